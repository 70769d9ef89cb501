"""The monthly recovery drill: restore the latest physical backup into a throw-away MariaDB,
verify it, measure it, delete it (architecture overview: "Testing: Monthly recovery drills";
RTO 15 min, RPO 1 h).

A CronJob in the data namespace (`data.drills.schedule`, on in production) runs one pod:

- `drill` (kubectl) creates the scratch MariaDB `mariadb-drill-scratch`, bootstrapped from the
  serving instance's scheduled PhysicalBackup (`bootstrapFrom.backupRef` kind PhysicalBackup:
  the operator restores the backup closest to now, mariadb-operator v26.6.0
  api/v1alpha1/mariadb_types.go BootstrapFrom), waits for it to be Ready, hands over to the
  verifier, and always deletes the scratch object and its volume again (`trap` on exit and on
  SIGTERM, so an `activeDeadlineSeconds` kill cleans up too); a leftover of a killed run is
  deleted before the next one starts.
- `verify` (the MariaDB image, its client) checks the application schema, that every table of
  `data.drills.tables` holds rows and how old the newest `data.drills.freshness` row is.

The results go to a Pushgateway in the data namespace (the Prometheus-documented way for a
batch job's results: a job pod lives too short to be scraped; kube-state-metrics'
custom-resource metrics cannot read a Job or ConfigMap: v2.20.0
internal/discovery/discovery.go resolves only CRD kinds and refuses the core group):
`mariadb_drill_*` below. kube-state-metrics adds the CronJob's last successful time, which
outlives a Pushgateway restart. The alerts are in components/files/alerts/drills.yaml.

Least privilege: the drill's ServiceAccount may get and delete only the scratch MariaDB and
its volume (RBAC `resourceNames`); `create` cannot be limited by name in RBAC (the name is not
known at authorization time), so a ValidatingAdmissionPolicy admits the account's create only
for that name, bootstrapped from this stack's PhysicalBackup, with one pod.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import pulumi
import pulumi_kubernetes as k8s
import yaml

from components import k8s as kube
from components.config import ContainerSize, DrillsSection, StackConfig
from components.data import mariadb_base as mariadb_store
from components.config.backup_timing import BACKUP_THROUGHPUT_MB_S, quantity_mib
from components.data import tls as data_tls
from components.data.common import DATA_STORE_LABEL
from components.data.pushgateway import PUSHGATEWAY, PUSHGATEWAY_PORT, PUSHGATEWAY_STORE, pushgateway
from components.platform.network import PROMETHEUS_POD

DRILL = "mariadb-drill"
SCRATCH = "mariadb-drill-scratch"
# The StatefulSet volume of pod 0 (`<volumeClaimTemplate>-<statefulset>-0`; mariadb-operator
# v26.6.0 pkg/builder/statefulset_builder.go names the template `storage`).
SCRATCH_CLAIM = f"storage-{SCRATCH}-0"
# Store labels: the drill pod, the scratch database, the Pushgateway.
DRILL_STORE = "mariadb-drill"
SCRATCH_STORE = "mariadb-drill-scratch"
WORK_DIR = "/work"
CONFIG_DIR = "/etc/drill"
SECRET_DIR = mariadb_store.SECRET_DIR
# With `data.tls` the scratch instance requires TLS like the serving one; the verifier checks
# its certificate against the CA bundle mariadb-operator keeps for it: Secret
# `<name>-ca-bundle`, key `ca.crt` (v26.6.0 api/v1alpha1/mariadb_keys.go
# TLSCABundleSecretKeyRef, pkg/pki/keypair.go CACertKey). That Secret exists only once the
# drill created the scratch, so the drill container copies it to the shared work volume (a
# Secret volume would hold the pod until it exists).
SCRATCH_CA_BUNDLE = f"{SCRATCH}-ca-bundle"
SCRATCH_CA_FILE = f"{WORK_DIR}/ca.crt"
# The verification must finish this long after the scratch is Ready.
VERIFY_SECONDS = 600
RTO_SECONDS = 15 * 60
# Metric names pushed (rehearsal/catalog/metrics.yaml `mariadb-drill`).
METRICS = (
    "mariadb_drill_last_run_timestamp_seconds",
    "mariadb_drill_success",
    "mariadb_drill_last_success_timestamp_seconds",
    "mariadb_drill_restore_seconds",
    "mariadb_drill_data_age_seconds",
)


@dataclass(frozen=True)
class DrillArgs:
    """config: the resolved stack (its `data.drills` is set). namespace: the data namespace.
    instance: the serving MariaDB whose PhysicalBackup is restored. credentials: the Secret
    holding its `root-password` (a physical restore brings the source's users along).
    monitoring_crds: the release installing ServiceMonitor (empty: no monitor)."""

    config: StackConfig
    namespace: pulumi.Input[str]
    instance: str
    credentials: pulumi.Input[str]
    monitoring_namespace: pulumi.Input[str]
    monitoring_crds: Sequence[pulumi.Resource] = ()
    depends_on: Sequence[pulumi.Resource] = ()


def scratch_spec(cfg: StackConfig, instance: str, credentials: str) -> dict[str, object]:
    """The throw-away MariaDB: one pod (no replication: the webhook refuses replication with
    one replica, v26.6.0 internal/webhook/v1alpha1/mariadb_webhook.go validateHA), the serving
    instance's image, size and security, bootstrapped from its PhysicalBackup, staged on a
    volume (not the node's disk), deleted with its volume. The operator's restore Job takes
    the MariaDB's (pod) security context (v26.6.0 pkg/builder/batch_builder.go
    BuildPhysicalBackupRestoreJob), so it too passes the namespace's `restricted` Pod Security."""
    data = cfg.data
    staging = mariadb_store.staging_storage(cfg)
    labels = {**kube.recommended_labels(SCRATCH, "mariadb-drill"), DATA_STORE_LABEL: SCRATCH_STORE}
    return {
        "image": mariadb_store.IMAGE,
        "imagePullPolicy": "IfNotPresent",
        "rootPasswordSecretKeyRef": {"name": credentials, "key": "root-password"},
        "port": mariadb_store.PORT,
        "replicas": 1,
        "storage": {
            "size": data.mariadb.storage,
            **({"storageClassName": data.mariadb.storage_class} if data.mariadb.storage_class else {}),
            "pvcRetentionPolicy": {"whenDeleted": "Delete", "whenScaled": "Delete"},
        },
        "bootstrapFrom": {
            "backupRef": {"name": mariadb_store.physical_backup_name(instance), "kind": "PhysicalBackup"},
            **staging,
        },
        "resources": kube.resource_values(ContainerSize(data.mariadb.cpu, data.mariadb.memory, data.mariadb.memory)),
        # The serving instance's TLS (required, certificates from the data CA): the drill
        # proves that a restore comes up the way production runs.
        **({"tls": data_tls.mariadb_tls_spec()} if data_tls.enabled(cfg) else {}),
        "timeZone": "UTC",
        "podMetadata": {"labels": labels},
        "inheritMetadata": {"labels": kube.recommended_labels(SCRATCH, "mariadb-drill")},
        "podSecurityContext": kube.restricted_pod_security(mariadb_store.MYSQL_UID),
        "securityContext": kube.restricted_container_security(mariadb_store.MYSQL_UID, read_only_root=False),
    }


def scratch_manifest(cfg: StackConfig, namespace: str, instance: str, credentials: str) -> dict[str, object]:
    return {
        "apiVersion": mariadb_store.API_VERSION,
        "kind": "MariaDB",
        "metadata": {"name": SCRATCH, "namespace": namespace, "labels": kube.recommended_labels(SCRATCH, "mariadb-drill")},
        "spec": scratch_spec(cfg, instance, credentials),
    }


def restore_budget_seconds(cfg: StackConfig) -> int:
    """How long the drill waits for Ready: download and copy-back of the whole volume at the
    measured throughput, twice over, and at least 30 min (a drill slower than the RTO still
    reports its time instead of being cut off at it)."""
    megabytes = quantity_mib(cfg.data.mariadb.storage) * 1.048576
    return max(1800, int(2 * 2 * megabytes / BACKUP_THROUGHPUT_MB_S))


def pushgateway_url(namespace: str) -> str:
    return f"http://{PUSHGATEWAY}.{namespace}.svc:{PUSHGATEWAY_PORT}"


def drill_script(namespace: str, budget: int, rpo_seconds: int, tls: bool = False) -> str:
    """The orchestrating container: create, wait, hand over, measure, always clean up, push
    (to $PUSHGATEWAY_URL). `tls`: hand the verifier the scratch's CA bundle first."""
    fetch_ca = [
        f"kubectl -n $NS get secret {SCRATCH_CA_BUNDLE} -o jsonpath='{{.data.ca\\.crt}}' | base64 -d > {SCRATCH_CA_FILE}",
        f"[ -s {SCRATCH_CA_FILE} ] || {{ echo 'drill: no CA bundle {SCRATCH_CA_BUNDLE} for the scratch MariaDB' >&2; exit 1; }}",
    ] if tls else []
    push = f"\"$PUSHGATEWAY_URL/metrics/job/{DRILL}\""
    return "\n".join([
        "set -u",
        f"S={SCRATCH}; NS={namespace}",
        "start=$(date +%s); ok=0; restore=-1; age=-1",
        "push() {",
        "  now=$(date +%s)",
        "  { echo \"mariadb_drill_last_run_timestamp_seconds $now\"",
        "    echo \"mariadb_drill_success $ok\"",
        "    echo \"mariadb_drill_restore_seconds $restore\"",
        "    echo \"mariadb_drill_data_age_seconds $age\"",
        "    [ \"$ok\" = 1 ] && echo \"mariadb_drill_last_success_timestamp_seconds $now\"; true; } |",
        # POST replaces only the pushed names: a failed run keeps the last success's time.
        f"  curl -fsS --max-time 20 --data-binary @- {push} || echo 'drill: could not push the results' >&2",
        "}",
        "cleanup() {",
        "  rc=$?",
        "  touch " + WORK_DIR + "/done",
        "  kubectl -n $NS delete mariadb $S --ignore-not-found --wait=false",
        f"  kubectl -n $NS delete pvc {SCRATCH_CLAIM} --ignore-not-found --wait=false",
        "  push",
        "  if [ \"$ok\" = 1 ]; then echo \"drill: OK, restored in ${restore}s, data ${age}s old\"; "
        "else echo \"drill: FAILED (restore ${restore}s, data age ${age}s)\" >&2; fi",
        "  [ \"$ok\" = 1 ] || exit 1",
        "  exit $rc",
        "}",
        "trap cleanup EXIT",
        "trap 'exit 143' TERM INT",
        "set -e",
        # A scratch instance left by a run killed without its trap.
        "kubectl -n $NS delete mariadb $S --ignore-not-found --wait=true --timeout=300s",
        f"kubectl -n $NS delete pvc {SCRATCH_CLAIM} --ignore-not-found --wait=true --timeout=300s",
        f"kubectl create -f {CONFIG_DIR}/scratch.yaml",
        "until [ \"$(kubectl -n $NS get mariadb $S -o jsonpath='{.status.conditions[?(@.type==\"Ready\")].status}')\" = True ]; do",
        f"  if [ $(( $(date +%s) - start )) -gt {budget} ]; then echo 'drill: scratch MariaDB not Ready in {budget}s' >&2; "
        "kubectl -n $NS get mariadb $S -o yaml >&2 || true; exit 1; fi",
        "  sleep 10",
        "done",
        "restore=$(( $(date +%s) - start ))",
        *fetch_ca,
        "touch " + WORK_DIR + "/ready",
        "waited=0",
        f"until [ -f {WORK_DIR}/verified ] || [ -f {WORK_DIR}/failed ]; do",
        f"  waited=$((waited + 5)); [ $waited -lt {VERIFY_SECONDS} ] || {{ echo 'drill: verification timed out' >&2; exit 1; }}",
        "  sleep 5",
        "done",
        f"[ -f {WORK_DIR}/verified ] || {{ cat {WORK_DIR}/failed >&2; exit 1; }}",
        f"age=$(cat {WORK_DIR}/age)",
        f"[ \"$age\" -le {rpo_seconds} ] || {{ echo \"drill: restored data is ${{age}}s old, more than the RPO ({rpo_seconds}s)\" >&2; exit 1; }}",
        f"[ \"$restore\" -le {RTO_SECONDS} ] || echo \"drill: restore took ${{restore}}s, more than the RTO ({RTO_SECONDS}s)\" >&2",
        "ok=1",
    ])


def verify_script(drills: DrillsSection, tls: bool = False) -> str:
    """The verifying container: schema present, every listed table has rows, the newest
    freshness row's age. Writes `age` and `verified`, or `failed` with the reason. `tls`: the
    scratch requires TLS (`require_secure_transport`), so the client speaks TLS and verifies
    the server's certificate and name against the scratch's CA bundle."""
    fresh = drills.freshness
    ssl = f" --ssl --ssl-verify-server-cert --ssl-ca={SCRATCH_CA_FILE}" if tls else ""
    sql = (f"mariadb --defaults-extra-file={WORK_DIR}/client.cnf --protocol=TCP --host=\"$SCRATCH_HOST\" --port=\"$SCRATCH_PORT\" "
           f"--user=root --batch --skip-column-names{ssl}")
    lines = [
        "set -eu",
        "umask 077",
        f"until [ -f {WORK_DIR}/ready ]; do [ -f {WORK_DIR}/done ] && exit 0; sleep 2; done",
        f"printf '[client]\\npassword=%s\\n' \"$(cat {SECRET_DIR}/root-password)\" > {WORK_DIR}/client.cnf",
        f"fail() {{ echo \"$1\" > {WORK_DIR}/failed; echo \"verify: $1\" >&2; exit 1; }}",
        f"[ \"$({sql} --execute=\"SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME='{mariadb_store.APP_DATABASE}'\")\" = 1 ] "
        f"|| fail 'schema {mariadb_store.APP_DATABASE} missing'",
    ]
    for table in drills.tables:
        lines.append(
            f"n=$({sql} --execute='SELECT COUNT(*) FROM `{mariadb_store.APP_DATABASE}`.`{table}`') || fail 'table {table} unreadable'; "
            f"echo \"verify: {table}: $n rows\"; [ \"$n\" -gt 0 ] || fail 'table {table} is empty'"
        )
    lines += [
        f"age=$({sql} --execute='SELECT TIMESTAMPDIFF(SECOND, MAX(`{fresh.column}`), UTC_TIMESTAMP()) "
        f"FROM `{mariadb_store.APP_DATABASE}`.`{fresh.table}`') || fail 'freshness query failed'",
        f"case \"$age\" in ''|NULL) fail 'no {fresh.table}.{fresh.column} value';; esac",
        f"echo \"$age\" > {WORK_DIR}/age",
        f"touch {WORK_DIR}/verified",
    ]
    return "\n".join(lines)


TYPE = "saas-platform:index:MariaDBDrill"


class MariaDBDrill(pulumi.ComponentResource):
    """The recovery drill's CronJob, its least-privilege identity, the admission policy that
    pins what it may create, its NetworkPolicies and the Pushgateway it reports to."""

    def __init__(self, name: str, args: DrillArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(TYPE, name, None, opts)
        cfg = args.config
        drills = cfg.data.drills
        assert drills is not None, "the drill is only built where data.drills is on"
        ns = pulumi.Output.from_input(args.namespace)
        child = pulumi.ResourceOptions(parent=self, depends_on=list(args.depends_on))
        account = k8s.core.v1.ServiceAccount(
            DRILL, metadata=kube.metadata(DRILL, "mariadb-drill", ns), automount_service_account_token=False, opts=child
        )
        self._rbac(ns, child, data_tls.enabled(cfg))
        admission_policy(ns, child)
        manifest = pulumi.Output.all(ns, args.credentials).apply(
            lambda v: yaml.safe_dump(scratch_manifest(cfg, v[0], args.instance, v[1]), sort_keys=True)
        )
        # The annotation tells the behaviour judges that a Job creates these objects at run
        # time (rehearsal/base.py RUNTIME_OBJECTS): they judge the scratch MariaDB as deployed.
        settings = k8s.core.v1.ConfigMap(
            DRILL,
            metadata=kube.metadata(DRILL, "mariadb-drill", ns, annotations={"saas-platform.io/runtime-objects": "scratch.yaml"}),
            data={"scratch.yaml": manifest},
            opts=child,
        )
        budget = restore_budget_seconds(cfg)
        tls = data_tls.enabled(cfg)
        script = ns.apply(lambda n: drill_script(n, budget, cfg.data.rpo_minutes * 60, tls))
        push_url = ns.apply(pushgateway_url)
        k8s.batch.v1.CronJob(
            DRILL,
            metadata=kube.metadata(DRILL, "mariadb-drill", ns),
            spec={
                "schedule": drills.schedule,
                "timeZone": "Etc/UTC",
                "concurrencyPolicy": "Forbid",
                "startingDeadlineSeconds": 3600,
                "successfulJobsHistoryLimit": 1,
                "failedJobsHistoryLimit": 3,
                "jobTemplate": {"spec": job_spec(account.metadata.name, settings.metadata.name, args.credentials,
                                                 script, verify_script(drills, tls), budget, push_url)},
            },
            opts=child,
        )
        pushgateway(ns, args.monitoring_crds, child, labels=_labels(PUSHGATEWAY, PUSHGATEWAY_STORE))
        drill_network_policies(ns, args.monitoring_namespace, child)
        self.register_outputs({})

    @staticmethod
    def _rbac(ns: pulumi.Output[str], opts: pulumi.ResourceOptions, tls: bool) -> None:
        role = k8s.rbac.v1.Role(
            DRILL,
            metadata=kube.metadata(DRILL, "mariadb-drill", ns),
            rules=drill_rules(tls),
            opts=opts,
        )
        k8s.rbac.v1.RoleBinding(
            DRILL,
            metadata=kube.metadata(DRILL, "mariadb-drill", ns),
            role_ref={"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": role.metadata.name},
            subjects=[{"kind": "ServiceAccount", "name": DRILL, "namespace": ns}],
            opts=opts,
        )


def drill_rules(tls: bool = False) -> list[dict[str, object]]:
    """Create MariaDBs (RBAC cannot name what is created: the admission policy pins it); get
    and delete only the scratch one and its volume; with TLS read only the scratch's CA bundle
    (public certificates, no key)."""
    return [
        *([{"apiGroups": [""], "resources": ["secrets"], "resourceNames": [SCRATCH_CA_BUNDLE], "verbs": ["get"]}] if tls else []),
        {"apiGroups": ["k8s.mariadb.com"], "resources": ["mariadbs"], "verbs": ["create"]},
        {"apiGroups": ["k8s.mariadb.com"], "resources": ["mariadbs"], "resourceNames": [SCRATCH], "verbs": ["get", "delete"]},
        {"apiGroups": [""], "resources": ["persistentvolumeclaims"], "resourceNames": [SCRATCH_CLAIM], "verbs": ["get", "delete"]},
    ]


def admission_policy(ns: pulumi.Output[str], opts: pulumi.ResourceOptions) -> None:
    """The drill's account may create one MariaDB only: the scratch one, one pod, restored
    from this stack's PhysicalBackup (admissionregistration.k8s.io/v1, GA in Kubernetes 1.30)."""
    user = ns.apply(lambda n: f"system:serviceaccount:{n}:{DRILL}")
    policy = k8s.admissionregistration.v1.ValidatingAdmissionPolicy(
        f"{DRILL}-scope",
        metadata=kube.metadata(f"{DRILL}-scope", "mariadb-drill"),
        spec={
            "failurePolicy": "Fail",
            "matchConstraints": {
                "resourceRules": [{
                    "apiGroups": ["k8s.mariadb.com"], "apiVersions": ["*"],
                    "operations": ["CREATE", "UPDATE"], "resources": ["mariadbs"],
                }],
            },
            "matchConditions": [{"name": "drill-account", "expression": user.apply(lambda u: f"request.userInfo.username == '{u}'")}],
            "validations": [
                {"expression": f"object.metadata.name == '{SCRATCH}'", "message": f"the drill may only create {SCRATCH}"},
                {"expression": "object.spec.replicas == 1", "message": "the scratch MariaDB has one pod"},
                {
                    "expression": "has(object.spec.bootstrapFrom) && has(object.spec.bootstrapFrom.backupRef) && "
                    "object.spec.bootstrapFrom.backupRef.kind == 'PhysicalBackup'",
                    "message": "the scratch MariaDB restores a PhysicalBackup",
                },
            ],
        },
        opts=opts,
    )
    k8s.admissionregistration.v1.ValidatingAdmissionPolicyBinding(
        f"{DRILL}-scope",
        metadata=kube.metadata(f"{DRILL}-scope", "mariadb-drill"),
        spec={
            "policyName": policy.metadata.name,
            "validationActions": ["Deny"],
            "matchResources": {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": ns}}},
        },
        opts=opts,
    )


def _labels(name: str, store: str) -> dict[str, str]:
    return {**kube.recommended_labels(name, "mariadb-drill"), DATA_STORE_LABEL: store}


def job_spec(
    account: pulumi.Input[str],
    settings: pulumi.Input[str],
    credentials: pulumi.Input[str],
    script: pulumi.Input[str],
    verify: str,
    budget: int,
    push_url: pulumi.Input[str],
) -> dict[str, object]:
    """One try (a failed drill is reported, not re-run), cut off well after the restore budget."""
    small = kube.resource_values(ContainerSize("10m", "64Mi", "128Mi"))
    return {
        "backoffLimit": 0,
        "activeDeadlineSeconds": budget + VERIFY_SECONDS + 600,
        "template": {
            "metadata": {"labels": _labels(DRILL, DRILL_STORE)},
            "spec": {
                "restartPolicy": "Never",
                "serviceAccountName": account,
                "automountServiceAccountToken": True,
                # Time for the trap to delete the scratch instance after SIGTERM.
                "terminationGracePeriodSeconds": 60,
                "securityContext": kube.restricted_pod_security(),
                "volumes": [
                    {"name": "tmp", "emptyDir": {"sizeLimit": "64Mi"}},
                    {"name": "work", "emptyDir": {"sizeLimit": "16Mi"}},
                    {"name": "settings", "configMap": {"name": settings}},
                    {"name": "secret", "secret": {"secretName": credentials, "defaultMode": 0o440,
                                                  "items": [{"key": "root-password", "path": "root-password"}]}},
                ],
                "containers": [
                    {
                        "name": "drill",
                        "image": mariadb_store.KUBECTL_IMAGE,
                        "imagePullPolicy": "IfNotPresent",
                        "command": ["/bin/sh", "-c", script],
                        "env": [{"name": "HOME", "value": "/tmp"}, {"name": "PUSHGATEWAY_URL", "value": push_url}],
                        "volumeMounts": [
                            {"name": "tmp", "mountPath": "/tmp"},
                            {"name": "work", "mountPath": WORK_DIR},
                            {"name": "settings", "mountPath": CONFIG_DIR, "readOnly": True},
                        ],
                        "resources": small,
                        "securityContext": kube.restricted_container_security(),
                    },
                    {
                        "name": "verify",
                        "image": mariadb_store.IMAGE,
                        "imagePullPolicy": "IfNotPresent",
                        "command": ["/bin/sh", "-c", verify],
                        "env": [
                            {"name": "SCRATCH_HOST", "value": SCRATCH},
                            {"name": "SCRATCH_PORT", "value": str(mariadb_store.PORT)},
                        ],
                        "volumeMounts": [
                            {"name": "tmp", "mountPath": "/tmp"},
                            {"name": "work", "mountPath": WORK_DIR},
                            {"name": "secret", "mountPath": SECRET_DIR, "readOnly": True},
                        ],
                        "resources": small,
                        "securityContext": kube.restricted_container_security(),
                    },
                ],
            },
        },
    }


def drill_network_policies(
    ns: pulumi.Output[str], monitoring_ns: pulumi.Input[str], opts: pulumi.ResourceOptions
) -> None:
    """On top of the data namespace's policies (within-namespace traffic and HTTPS, so the
    object storage and an API server on 443, are already open): the drill pod reaches an API
    server on 6443 too; Prometheus reaches the Pushgateway. NetworkPolicies only add: the drill's reach inside the namespace is the
    namespace's (documented in docs/operations.md)."""
    NP = k8s.networking.v1
    api_ports = [NP.NetworkPolicyPortArgs(protocol="TCP", port=p) for p in (443, 6443)]
    NP.NetworkPolicy(
        f"{DRILL}-to-kubernetes-api",
        metadata=kube.metadata(f"allow-{DRILL}-to-kubernetes-api", "network-policy", ns),
        spec=NP.NetworkPolicySpecArgs(
            pod_selector=k8s.meta.v1.LabelSelectorArgs(match_labels={DATA_STORE_LABEL: DRILL_STORE}),
            policy_types=["Egress"],
            egress=[NP.NetworkPolicyEgressRuleArgs(ports=api_ports)],
        ),
        opts=opts,
    )
    NP.NetworkPolicy(
        f"{DRILL}-monitoring-to-pushgateway",
        metadata=kube.metadata(f"allow-monitoring-to-{PUSHGATEWAY}", "network-policy", ns),
        spec=NP.NetworkPolicySpecArgs(
            pod_selector=k8s.meta.v1.LabelSelectorArgs(match_labels={DATA_STORE_LABEL: PUSHGATEWAY_STORE}),
            policy_types=["Ingress"],
            ingress=[NP.NetworkPolicyIngressRuleArgs(
                from_=[NP.NetworkPolicyPeerArgs(
                    namespace_selector=k8s.meta.v1.LabelSelectorArgs(match_labels={"kubernetes.io/metadata.name": monitoring_ns}),
                    pod_selector=k8s.meta.v1.LabelSelectorArgs(match_labels=dict(PROMETHEUS_POD)),
                )],
                ports=[NP.NetworkPolicyPortArgs(protocol="TCP", port=PUSHGATEWAY_PORT)],
            )],
        ),
        opts=opts,
    )
