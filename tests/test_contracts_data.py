"""The typed outputs other components consume from RabbitMQ and ObjectStorage, read back from a
small program synthesized with the stack's config: shapes, values and which ones are secret."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.conftest import run_synth

PROGRAM = '''
import pulumi
from components import config
from tests.programs.platform_stub import admin_guard
from components.data.rabbitmq import RabbitMQ, RabbitMQArgs
from components.storage import ObjectStorage, ObjectStorageArgs

settings = config.load()
rabbitmq = RabbitMQ("rabbitmq", RabbitMQArgs(config=settings, namespace="saas-data", admin_guard=admin_guard()))
storage = ObjectStorage("object-storage", ObjectStorageArgs(config=settings, namespace="saas-data"))
# Production's policy pack requires the account's audit trail wherever AWS is used, as in __main__.py.
if config.audit_trail_enabled(settings.raw):
    from components.edge.audit import AuditTrail, AuditTrailArgs

    AuditTrail("audit-trail", AuditTrailArgs(config=settings))

pulumi.export("url", rabbitmq.connection_url)
pulumi.export("urlRevealed", pulumi.Output.unsecret(rabbitmq.connection_url))
pulumi.export("password", rabbitmq.password)
pulumi.export("accessKeys", sorted(storage.access))
for bucket, access in storage.access.items():
    pulumi.export(f"{bucket}Plain", {"endpoint": access.endpoint, "region": access.region,
                                    "bucket": access.bucket, "pathStyle": access.path_style})
    pulumi.export(f"{bucket}KeyId", access.access_key_id)
    pulumi.export(f"{bucket}Secret", access.secret_access_key)
    pulumi.export(f"{bucket}KeyIdRevealed", pulumi.Output.unsecret(access.access_key_id))
'''


@pytest.fixture(scope="module")
def contracts(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    base = tmp_path_factory.mktemp("contracts")
    program = base / "contracts.py"
    program.write_text(PROGRAM)
    out: dict[str, dict[str, Any]] = {}
    for stack in ("dev", "prod"):
        proc = run_synth(stack, base / stack, "--program", str(program))
        assert proc.returncode == 0, proc.stdout + proc.stderr
        out[stack] = json.loads((base / stack / "outputs.json").read_text())
    return out


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_rabbitmq_connection_url_is_secret_and_well_formed(contracts: dict[str, dict[str, Any]], stack: str) -> None:
    outputs = contracts[stack]
    assert outputs["url"] == "[secret]" and outputs["password"] == "[secret]"
    url = outputs["urlRevealed"]
    # Outside dev the broker speaks AMQPS only to the app (data.tls, docs/operations.md).
    scheme, port = ("amqp", 5672) if stack == "dev" else ("amqps", 5671)
    assert url.startswith(f"{scheme}://app:") and url.endswith(f"@rabbitmq.saas-data.svc.cluster.local:{port}/app")


@pytest.mark.parametrize(("stack", "endpoint", "path_style"), [
    ("dev", "http://seaweedfs-all-in-one.saas-data.svc.cluster.local:8333", True),  # one process in dev
    # prod's buckets live in prod's AWS region (Pulumi.prod.yaml objectStorage.region = aws:region).
    ("prod", "https://s3.eu-west-1.amazonaws.com", False),
])
def test_object_storage_access_per_bucket(contracts: dict[str, dict[str, Any]], stack: str, endpoint: str, path_style: bool) -> None:
    outputs = contracts[stack]
    assert outputs["accessKeys"] == ["backups", "static", "uploads"]
    for bucket in ("uploads", "static", "backups"):
        plain = outputs[f"{bucket}Plain"]
        assert plain["endpoint"] == endpoint and plain["pathStyle"] is path_style
        assert plain["bucket"].endswith(f"-{stack}-{bucket}")
        assert outputs[f"{bucket}KeyId"] == "[secret]" and outputs[f"{bucket}Secret"] == "[secret]"
    # The app's buckets share one identity; the backups identity is a different one.
    assert outputs["uploadsKeyIdRevealed"] == outputs["staticKeyIdRevealed"] != outputs["backupsKeyIdRevealed"]
