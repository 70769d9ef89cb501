"""Object storage: S3-compatible buckets behind one interface (`objectStorage.engine`).

Modules: `layout` (Args, logical buckets, naming; imported by every engine), `component`
(ObjectStorage), `seaweedfs` (in-cluster chart), `s3` (AWS buckets and IAM users), `buckets`
(one hardened AWS bucket), `replication` (cross-region copies). pulumi_aws is imported only by
`s3`, `buckets` and `replication`, loaded only for the s3 engine (and by the audit trail).
"""

from __future__ import annotations

from components.storage.component import ObjectStorage, ObjectStorageArgs
from components.storage.layout import bucket_name, name_prefix

__all__ = ["ObjectStorage", "ObjectStorageArgs", "bucket_name", "name_prefix"]
