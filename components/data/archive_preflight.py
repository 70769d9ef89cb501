"""The archive preflight (data-safety review #18): refuse to create a MariaDB whose backup and
binlog prefixes in the backups bucket already hold data, unless that MariaDB already exists.

Why at deploy time: Pulumi must not call cloud or cluster APIs while planning, so the check is a
Job in the data namespace that the instance's PhysicalBackup, PointInTimeRecovery and MariaDB
depend on. pulumi-kubernetes awaits a Job until it is Complete and fails the update when it
fails (`Job` docstring, pulumi-kubernetes v4 batch/v1/Job.py: "waits until ... Complete"), so
nothing that would write into the prefixes is created after a refusal.

What it decides, per instance `<name>`:
- the MariaDB `<name>` exists in the namespace -> pass: the archive is its own (every later
  `pulumi up` that replaces this Job, a living cluster, a same-cluster restore's old instance);
- it does not, and `<name>/physical/` or `<name>/binlogs/` holds an object -> fail with the
  runbook: this is a rebuilt cluster about to put an empty database's backup into the live
  prefix, whose archiver would also refuse the non-empty binlog prefix (mariadb-operator
  v26.6.0 pkg/binlog/archiver.go, "Archival must start from a clean state");
- it does not and both prefixes are empty -> pass: a first deployment, or a restore's new
  instance `mariadb-r<digits>` whose prefixes are new.

Two containers: kubectl (init) answers "does the MariaDB exist" into a shared emptyDir, the AWS
CLI lists the prefixes with the backup key; a kubectl error other than NotFound fails the Job
(`--ignore-not-found` prints nothing only for NotFound), so an RBAC or API problem refuses
instead of passing.
"""

from __future__ import annotations

from typing import Mapping

import pulumi
import pulumi_kubernetes as k8s

from components import k8s as kube
from components.config import ContainerSize
from components.contracts import S3Access

COMPONENT = "mariadb-backup"
SECRET_DIR = "/var/run/secrets/saas"
STATE_FILE = "/work/mariadb-state"
# Long enough for a slow S3 listing; a refusal is immediate.
DEADLINE_SECONDS = 300


def preflight_name(instance: str) -> str:
    return f"{instance}-archive-preflight"


def archive_prefixes(instance: str) -> tuple[str, str]:
    """The prefixes the instance's PhysicalBackup and PointInTimeRecovery write to
    (components/data/backups.py `backup_pair`)."""
    return f"{instance}/physical/", f"{instance}/binlogs/"


def existence_script(instance: str) -> str:
    """Write `present` or `absent` for MariaDB `instance` into STATE_FILE (kubectl works in
    the pod's own namespace)."""
    return "\n".join([
        "set -eu",
        f"found=$(kubectl get mariadb {instance} --ignore-not-found -o name)",
        f'if [ -n "$found" ]; then echo present > {STATE_FILE}; else echo absent > {STATE_FILE}; fi',
        f'echo "MariaDB {instance}: $(cat {STATE_FILE})"',
    ])


def check_script(instance: str) -> str:
    """Exit 1 when MariaDB `instance` is absent and its archive prefixes hold an object."""
    lines = [
        "set -eu",
        "umask 077",
        f'if [ "$(cat {STATE_FILE})" = present ]; then',
        f'  echo "MariaDB {instance} exists: its archive is its own, nothing to check"; exit 0',
        "fi",
        f"printf '[default]\\naws_access_key_id = %s\\naws_secret_access_key = %s\\n' "
        f'"$(cat {SECRET_DIR}/access-key-id)" "$(cat {SECRET_DIR}/secret-access-key)" > /tmp/credentials',
        "export AWS_SHARED_CREDENTIALS_FILE=/tmp/credentials",
        f"for prefix in {' '.join(archive_prefixes(instance))}; do",
        '  key=$(aws s3api list-objects-v2 --endpoint-url "$S3_ENDPOINT" --bucket "$BUCKET" --prefix "$prefix" '
        "--max-items 1 --query 'Contents[0].Key' --output text)",
        '  if [ -n "$key" ] && [ "$key" != None ]; then',
        f'    echo "REFUSED: MariaDB {instance} does not exist in this cluster, but s3://$BUCKET/$prefix already holds'
        f' $key. Creating {instance} would put an empty database\'s backup into the live archive. This is a'
        ' rebuilt cluster: follow docs/operations.md, Cluster loss (restore.targetTime + restore.newCluster)."',
        "    exit 1",
        "  fi",
        "done",
        f'echo "archive prefixes of {instance} are empty: a new instance may start"',
    ]
    return "\n".join(lines)


def archive_preflight(
    instance: str,
    ns: pulumi.Input[str],
    backups: S3Access,
    s3_secret: pulumi.Input[str],
    *,
    kubectl_image: str,
    aws_cli_image: str,
    pod_labels: Mapping[str, str],
    opts: pulumi.ResourceOptions,
) -> k8s.batch.v1.Job:
    """The preflight Job of `instance`, with a ServiceAccount that may only `get` that one
    MariaDB. `pod_labels`: the labels the data namespace's NetworkPolicies admit to the
    Kubernetes API and to object storage (the PITR guard's)."""
    name = preflight_name(instance)
    account = k8s.core.v1.ServiceAccount(
        name, metadata=kube.metadata(name, COMPONENT, ns), automount_service_account_token=False, opts=opts
    )
    role = k8s.rbac.v1.Role(
        name,
        metadata=kube.metadata(name, COMPONENT, ns),
        rules=[{"apiGroups": ["k8s.mariadb.com"], "resources": ["mariadbs"], "resourceNames": [instance], "verbs": ["get"]}],
        opts=opts,
    )
    binding = k8s.rbac.v1.RoleBinding(
        name,
        metadata=kube.metadata(name, COMPONENT, ns),
        role_ref={"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": role.metadata.name},
        subjects=[{"kind": "ServiceAccount", "name": account.metadata.name, "namespace": ns}],
        opts=opts,
    )
    common = {
        "imagePullPolicy": "IfNotPresent",
        "resources": kube.resource_values(ContainerSize("10m", "64Mi", "256Mi")),
        "securityContext": kube.restricted_container_security(),
    }
    work = {"name": "work", "mountPath": "/work"}
    tmp = {"name": "tmp", "mountPath": "/tmp"}
    pod = {
        "restartPolicy": "Never",
        "serviceAccountName": name,
        "automountServiceAccountToken": True,  # kubectl reads the MariaDB
        "securityContext": kube.restricted_pod_security(),
        "volumes": [
            {"name": "work", "emptyDir": {"sizeLimit": "1Mi"}},
            {"name": "tmp", "emptyDir": {"sizeLimit": "64Mi"}},
            {"name": "secret", "secret": {"secretName": s3_secret, "defaultMode": 0o440}},
        ],
        "initContainers": [{
            **common,
            "name": "mariadb-exists",
            "image": kubectl_image,
            "command": ["/bin/sh", "-c", existence_script(instance)],
            # kubectl keeps its discovery cache under $HOME.
            "env": [{"name": "HOME", "value": "/tmp"}],
            "volumeMounts": [work, tmp],
        }],
        "containers": [{
            **common,
            "name": "archive-empty",
            "image": aws_cli_image,
            "command": ["/bin/sh", "-c", check_script(instance)],
            "env": [
                {"name": "HOME", "value": "/tmp"},
                {"name": "S3_ENDPOINT", "value": backups.endpoint},
                {"name": "BUCKET", "value": backups.bucket},
                {"name": "AWS_DEFAULT_REGION", "value": backups.region},
            ],
            "volumeMounts": [work, tmp, {"name": "secret", "mountPath": SECRET_DIR, "readOnly": True}],
        }],
    }
    return k8s.batch.v1.Job(
        name,
        metadata=kube.metadata(
            name, COMPONENT, ns,
            # A refused (failed) Job is replaced on the next `pulumi up` instead of blocking
            # every later update under the same name (pulumi-kubernetes v4.32.0
            # provider/pkg/provider/provider.go, Diff).
            annotations={"pulumi.com/replaceUnready": "true"},
        ),
        spec={
            # A refusal is deterministic: one retry covers a transient S3 or API error.
            "backoffLimit": 1,
            "activeDeadlineSeconds": DEADLINE_SECONDS,
            # No ttlSecondsAfterFinished: the finished Job is the record that the check ran; a
            # Job deleted by the cluster would be re-created by the next `pulumi up` anyway.
            "template": {"metadata": {"labels": {**kube.recommended_labels(name, COMPONENT), **pod_labels}}, "spec": pod},
        },
        opts=pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(depends_on=[binding])),
    )
