"""DataLayer part 1: MariaDB and Redis per stack, their backups and restore path, their
custom resources against the upstream CRDs, the operators' chart values, the generated
my.cnf and redis.conf judged by the real servers, protection and secrets."""

from __future__ import annotations

import copy
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Iterator

import pytest
import yaml

from components import config
from components.data import mariadb_base as mariadb_store
from components.config.backup_timing import quantity_mib
from components.data.mariadb_spec import mariadb_spec, render_my_cnf
from components.data.common import DATA_STORE_LABEL
from components.data import redis as redis_store
from rehearsal.ports import free_port
from tests.conftest import ROOT, Synth, parse_config, run_synth
from tests.upstream import chart_version, crd_errors, unknown_value_paths

sys.path.insert(0, str(ROOT / "policies"))
from saas_policies.data import cron_max_gap_minutes  # noqa: E402

DATA_NS = "saas-data"
OPERATOR_GROUPS = ("k8s.mariadb.com/", "redis.redis.opstreelabs.in/")
# (MariaDB pods, replication on, Redis pods, Sentinel pods) per stack: dev is one of each;
# staging is the small tier (single database, still replicated for binlog archiving); prod medium.
# Staging: the small tier's single database runs two pods, because replication (which PITR
# needs) with one pod is rejected by the operator's webhook (data-safety review C1).
# Redis: three pods wherever it is replicated, so a failed-over master keeps a replica
# (data-safety review #15).
TOPOLOGY = {"dev": (1, False, 1, 1), "staging": (2, True, 3, 3), "prod": (2, True, 3, 3)}


def _staging(**data: Any) -> dict[str, Any]:
    stack_file = yaml.safe_load((ROOT / "Pulumi.staging.yaml").read_text())["config"]
    raw = {k.split(":", 1)[1]: v for k, v in stack_file.items() if k.startswith("saas-platform:")}
    return {**raw, "data": data} if data else raw


# ---- topology -----------------------------------------------------------------------------


def test_topology_per_stack(stack: Synth) -> None:
    db_pods, replicated, redis_pods, sentinels = TOPOLOGY[stack.stack]
    spec = stack.object("MariaDB", "mariadb", DATA_NS)["spec"]
    assert spec["replicas"] == db_pods
    assert bool(spec.get("replication", {}).get("enabled")) is replicated
    if replicated:
        # The operator fails over unless MaxScale (prod, medium tier) does it: never both
        # (components/data/maxscale.py; tests/test_maxscale.py).
        assert spec["replication"]["primary"]["autoFailover"] is (stack.stack != "prod")
    assert stack.object("RedisReplication", "redis", DATA_NS)["spec"]["clusterSize"] == redis_pods
    sentinel = stack.object("RedisSentinel", "redis", DATA_NS)["spec"]
    assert sentinel["clusterSize"] == sentinels
    assert int(sentinel["redisSentinelConfig"]["quorum"]) == sentinels // 2 + 1
    assert sentinel["redisSentinelConfig"]["redisReplicationName"] == "redis"
    assert sentinel["redisSentinelConfig"]["masterGroupName"] == "mymaster"


@pytest.mark.parametrize(("size", "db_pods", "redis_pods"), [("small", 2, 3), ("medium", 2, 3), ("large", 3, 3)])
def test_topology_follows_the_tier(size: str, db_pods: int, redis_pods: int) -> None:
    cfg = parse_config({**_staging(), "size": size}, "staging")
    spec = mariadb_spec(cfg, "mariadb", "mariadb-credentials", "mariadb-pitr")
    assert spec["replicas"] == db_pods
    assert ("affinity" in spec) is (db_pods > 1)  # anti-affinity once there is a second pod
    assert redis_store.topology(cfg) == (redis_pods, 3)


# ---- what the operators accept and create ------------------------------------------------


def test_replica_recovery_names_its_bootstrap_source(stack: Synth) -> None:
    """mariadb-operator's validating webhook (failurePolicy Fail, create and update) rejects a
    MariaDB whose `replication.replica.recovery` is on without `replica.bootstrapFrom`
    (v26.6.0 api/v1alpha1/mariadb_replication_types.go ReplicaReplication.Validate,
    internal/webhook/v1alpha1/mariadb_webhook.go validateReplication)."""
    spec = stack.object("MariaDB", "mariadb", DATA_NS)["spec"]
    replica = spec.get("replication", {}).get("replica", {})
    if stack.stack == "dev":
        assert "replication" not in spec
        return
    assert replica["recovery"]["enabled"] is True
    template = replica["bootstrapFrom"]["physicalBackupTemplateRef"]["name"]
    # The template is a PhysicalBackup of this stack, of this instance, to S3.
    backup = stack.object("PhysicalBackup", template, DATA_NS)["spec"]
    assert backup["mariaDbRef"]["name"] == "mariadb" and "s3" in backup["storage"]


def test_recovery_without_backups_is_off() -> None:
    """Two pods but no backup archive (no PhysicalBackup to copy from): no recovery, which the
    webhook would reject without a bootstrap source."""
    cfg = parse_config({**_staging(), "size": "medium"}, "staging")
    spec = mariadb_spec(cfg, "mariadb", "mariadb-credentials", None)
    assert spec["replicas"] == 2 and spec["replication"]["enabled"] is True
    replica = spec["replication"]["replica"]
    assert "recovery" not in replica and "bootstrapFrom" not in replica


def test_replication_init_container_is_restricted(stack: Synth) -> None:
    """With replication on, the operator adds an init container to every MariaDB pod whose
    security context comes only from `replication.initContainer` (v26.6.0
    pkg/builder/container_builder.go dataPlaneInitContainer, securitycontext_builder.go); the
    data namespace enforces the `restricted` Pod Security level, which needs it on every
    container. Setting the template switches off the operator's image default
    (mariadb_replication_types.go SetDefaults), so the image must be there too."""
    spec = stack.object("MariaDB", "mariadb", DATA_NS)["spec"]
    if "replication" not in spec:
        return
    init = spec["replication"]["initContainer"]
    assert init["image"] == "ghcr.io/mariadb-operator/mariadb-operator:26.6.0"
    context = init["securityContext"]
    assert context["allowPrivilegeEscalation"] is False and context["capabilities"]["drop"] == ["ALL"]
    assert context["runAsNonRoot"] is True
    assert stack.object("Namespace", DATA_NS)["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"


def test_semi_sync_only_with_a_replica(stack: Synth) -> None:
    """Semi-sync is on unless switched off (v26.6.0 mariadb_replication_types.go
    IsSemiSyncEnabled); with no replica pod every commit would wait for the ACK timeout."""
    spec = stack.object("MariaDB", "mariadb", DATA_NS)["spec"]
    if "replication" in spec:
        assert spec["replication"]["semiSyncEnabled"] is (spec["replicas"] > 1)


def test_restore_jobs_inherit_a_restricted_security_context(stack: Synth) -> None:
    """Review item 17 (restore Job under restricted PSA) checked: the physical-backup restore
    and PITR Jobs take `spec.securityContext`/`spec.podSecurityContext` of the MariaDB
    (v26.6.0 pkg/builder/batch_builder.go BuildPhysicalBackupRestoreJob, BuildPITRJob), so
    those must satisfy `restricted` on their own."""
    spec = stack.object("MariaDB", "mariadb", DATA_NS)["spec"]
    container, pod = spec["securityContext"], spec["podSecurityContext"]
    assert container["allowPrivilegeEscalation"] is False and container["capabilities"]["drop"] == ["ALL"]
    assert container["runAsNonRoot"] is True or pod["runAsNonRoot"] is True
    assert pod["seccompProfile"]["type"] == "RuntimeDefault"


def test_redis_exporter_reads_the_queue_lengths(stack: Synth) -> None:
    """redis_exporter exports `redis_key_size` only for keys it is given; the operator passes
    it only `redisExporter.env` beyond its address and password (redis-operator v0.26.0
    internal/k8sutils/statefulset.go getExporterEnvironmentVariables). The keys are
    Laravel's queue lists under the backend's prefix, the same KEDA scales on."""
    env = stack.object("RedisReplication", "redis", DATA_NS)["spec"]["redisExporter"]["env"]
    (keys,) = [e["value"] for e in env if e["name"] == "REDIS_EXPORTER_CHECK_SINGLE_KEYS"]
    scaled = stack.object("ScaledObject", "backend-worker", "saas-app")["spec"]["triggers"]
    assert sorted(keys.split(",")) == sorted(f"db0={t['metadata']['listName']}" for t in scaled)
    assert all(key.startswith("db0=saas_queues:") for key in keys.split(","))


def test_ha_stores_spread_across_zones(stack: Synth) -> None:
    if stack.stack == "dev":  # one pod of each store: nothing to spread
        assert "affinity" not in stack.object("RedisReplication", "redis", DATA_NS)["spec"]
        return
    for kind in ("RedisReplication", "RedisSentinel"):
        anti = stack.object(kind, "redis", DATA_NS)["spec"]["affinity"]["podAntiAffinity"]
        keys = [t["podAffinityTerm"]["topologyKey"] for t in anti["preferredDuringSchedulingIgnoredDuringExecution"]]
        assert keys == ["topology.kubernetes.io/zone", "kubernetes.io/hostname"], kind
        # Preferred only: a required per-node rule leaves the third Sentinel Pending on a
        # cluster with fewer than three schedulable nodes (the operator copies `affinity`
        # into the StatefulSet verbatim, redis-operator v0.26.0 internal/k8sutils/statefulset.go).
        assert "requiredDuringSchedulingIgnoredDuringExecution" not in anti, kind
    if stack.stack == "prod":
        spec = stack.object("MariaDB", "mariadb", DATA_NS)["spec"]
        assert spec["affinity"]["antiAffinityEnabled"] is True
        assert spec["topologySpreadConstraints"][0]["topologyKey"] == "topology.kubernetes.io/zone"


def test_storage_and_resources_come_from_config(stack: Synth) -> None:
    spec = stack.object("MariaDB", "mariadb", DATA_NS)["spec"]
    assert spec["storage"]["size"].endswith("Gi")
    assert spec["storage"]["pvcRetentionPolicy"] == {"whenDeleted": "Retain", "whenScaled": "Retain"}
    assert spec["resources"]["limits"]["memory"] == spec["resources"]["requests"]["memory"]
    redis = stack.object("RedisReplication", "redis", DATA_NS)["spec"]
    assert redis["storage"]["keepAfterDelete"] is True
    assert redis["kubernetesConfig"]["redisSecret"] == {"name": "redis-password", "key": "password"}
    assert redis["redisExporter"]["enabled"] is True


def test_storage_class_and_size_overrides(tmp_path: Path) -> None:
    cfg = parse_config(_staging(mariadb={"storageClass": "fast-ssd", "storage": "80Gi", "memory": "8Gi"}), "staging")
    spec = mariadb_spec(cfg, "mariadb", "s", None)
    assert spec["storage"]["storageClassName"] == "fast-ssd"
    assert spec["storage"]["size"] == "80Gi"
    assert "innodb_buffer_pool_size = 5728M" in spec["myCnf"]  # 70 % of 8 GiB


# ---- backups, point-in-time recovery, restore ---------------------------------------------


def test_backups_meet_the_rpo_in_staging_and_prod(stack: Synth) -> None:
    backups = stack.objects("PhysicalBackup", DATA_NS)
    pitrs = stack.objects("PointInTimeRecovery", DATA_NS)
    if stack.stack == "dev":
        assert backups == [] and pitrs == []
        return
    (backup,) = backups
    (pitr,) = pitrs
    spec = backup["spec"]
    assert spec["mariaDbRef"]["name"] == "mariadb"
    assert spec["schedule"]["suspend"] is False
    assert cron_max_gap_minutes(spec["schedule"]["cron"]) <= 60
    assert spec["maxRetention"] == "720h"
    s3 = spec["storage"]["s3"]
    # Wired to ObjectStorage's backups bucket and endpoint (TLS exactly when it is https).
    storage = stack.outputs["objectStorage"]
    scheme, _, host = storage["endpoint"].partition("://")
    assert s3["bucket"] == storage["buckets"]["backups"] and s3["endpoint"] == host
    assert s3["accessKeyIdSecretKeyRef"] == {"name": "mariadb-backup-s3", "key": "access-key-id"}
    assert s3["tls"] == {"enabled": scheme == "https"}
    assert pitr["spec"]["physicalBackupRef"]["name"] == backup["metadata"]["name"]
    assert pitr["spec"]["storage"]["s3"]["prefix"] != s3["prefix"]
    mariadb = stack.object("MariaDB", "mariadb", DATA_NS)["spec"]
    assert mariadb["pointInTimeRecoveryRef"]["name"] == pitr["metadata"]["name"]
    # Binlogs must close (and so be archived) well within the hour on a busy database.
    assert "max_binlog_size = 64M" in mariadb["myCnf"]
    assert "bootstrapFrom" not in mariadb
    secret = stack.object("Secret", "mariadb-backup-s3", DATA_NS)["stringData"]
    assert secret == {"access-key-id": "[secret]", "secret-access-key": "[secret]"}


def test_cron_gap_check_can_fail() -> None:
    assert cron_max_gap_minutes("0 * * * *") == 60
    assert cron_max_gap_minutes("*/15 * * * *") == 15
    assert cron_max_gap_minutes("0 3 * * *") == 24 * 60
    assert cron_max_gap_minutes("0 * * * 1-5") > 60
    assert cron_max_gap_minutes("bogus") is None


@pytest.fixture(scope="module")
def restored(tmp_path_factory: pytest.TempPathFactory) -> Synth:
    directory = tmp_path_factory.mktemp("restore")
    cfg = _staging(mariadb={"restore": {"targetTime": "2026-11-20T18:00:00Z"}})
    stack_file = directory / "Pulumi.restore.yaml"
    stack_file.write_text(yaml.safe_dump({"config": {f"saas-platform:{k}": v for k, v in cfg.items()}}))
    proc = run_synth("staging", directory / "out", "--stack-file", str(stack_file))
    synth = Synth.load("staging", directory / "out", proc)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return synth


def test_restore_value_renders_a_mariadb_bootstrapped_from_pitr(restored: Synth) -> None:
    name = "mariadb-r20261120180000"
    spec = restored.object("MariaDB", name, DATA_NS)["spec"]
    assert spec["bootstrapFrom"]["pointInTimeRecoveryRef"] == {"name": "mariadb-pitr"}
    assert spec["bootstrapFrom"]["targetRecoveryTime"] == "2026-11-20T18:00:00Z"
    # The instance restored from stays as it was (same spec, same backups) until the restore
    # is finished: nothing protected leaves the program mid-incident.
    assert "bootstrapFrom" not in restored.object("MariaDB", "mariadb", DATA_NS)["spec"]
    source = restored.object("PhysicalBackup", "mariadb-physical", DATA_NS)["spec"]
    assert source["schedule"]["suspend"] is False
    assert restored.object("PointInTimeRecovery", "mariadb-pitr", DATA_NS)["spec"]["physicalBackupRef"]["name"] == "mariadb-physical"
    # The new instance archives into its own prefix from a clean start, and serves the app.
    assert spec["pointInTimeRecoveryRef"]["name"] == f"{name}-pitr"
    assert restored.object("PhysicalBackup", f"{name}-physical", DATA_NS)["spec"]["mariaDbRef"]["name"] == name
    assert restored.outputs["mariadb"]["primaryHost"] == f"{name}-primary.saas-data.svc.cluster.local"
    assert restored.object("User", f"{name}-app", DATA_NS)["spec"]["mariaDbRef"]["name"] == name
    assert [f for f in restored.findings if f["level"] == "mandatory"] == []
    for obj in restored.objects("MariaDB") + restored.objects("PhysicalBackup") + restored.objects("PointInTimeRecovery"):
        assert crd_errors(obj) == []


# ---- protection and secrets ---------------------------------------------------------------

STATEFUL_KINDS = ("MariaDB", "PhysicalBackup", "PointInTimeRecovery", "Database", "RedisReplication")


def test_stateful_resources_protected_in_prod_only(stack: Synth) -> None:
    records = [
        r for r in stack.resources
        if r["type"].split(":")[-1] in STATEFUL_KINDS and r["type"].split(":")[1].startswith(("k8s.mariadb.com", "redis."))
    ]
    assert {r["type"].split(":")[-1] for r in records} >= {"MariaDB", "Database", "RedisReplication"}
    for record in records:
        assert record["protect"] is (stack.stack == "prod"), record["urn"]
        # Retained exactly where protected: a retained object keeps its operator finalizer
        # (mariadb-operator v26.6.0 internal/controller/{database,user,grant}_controller_finalizer.go,
        # redis-operator v0.26.0 redisreplication_controller.go) once the operator is gone, and
        # `pulumi destroy` of a dev/staging stack hangs on the data namespace.
        assert record["retainOnDelete"] is (stack.stack == "prod"), record["urn"]


def _secret_leaks(manifest: dict[str, Any], path: str = "") -> Iterator[str]:
    """Paths of secret values outside a Secret's data (synth shows secrets as `[secret]`)."""
    if manifest.get("kind") == "Secret":
        return
    def walk(value: Any, here: str) -> Iterator[str]:
        if isinstance(value, dict):
            for key, item in value.items():
                yield from walk(item, f"{here}.{key}")
        elif isinstance(value, list):
            for index, item in enumerate(value):
                yield from walk(item, f"{here}[{index}]")
        elif value == "[secret]":
            yield here
    yield from walk(manifest, path or manifest.get("kind", ""))


def _random_values(stack: Synth) -> list[str]:
    from synth.mocks import _random_outputs

    return [
        _random_outputs(r["type"], r["name"], r["inputs"])["result"]
        for r in stack.resources
        if r["type"] == "random:index/randomPassword:RandomPassword"
    ]


def test_no_secret_value_outside_secret_objects(stack: Synth) -> None:
    leaks = [leak for _, m in stack.manifests() for leak in _secret_leaks(m)]
    assert leaks == []
    for secret_name in ("mariadb-credentials", "redis-password"):
        assert set(stack.object("Secret", secret_name, DATA_NS)["stringData"].values()) == {"[secret]"}
    passwords = _random_values(stack)
    assert len(passwords) >= 3
    texts = [p.read_text() for p in stack.out.rglob("*") if p.is_file()]
    assert not [pw for pw in passwords if any(pw in text for text in texts)]
    assert stack.outputs["mariadbPassword"] == "[secret]" and stack.outputs["redisPassword"] == "[secret]"


def test_secret_leak_check_can_fail() -> None:
    config_map = {"kind": "ConfigMap", "metadata": {"name": "x"}, "data": {"DB_PASSWORD": "[secret]"}}
    assert list(_secret_leaks(config_map)) == ["ConfigMap.data.DB_PASSWORD"]


def test_application_credentials_are_referenced_not_inlined(stack: Synth) -> None:
    user = stack.object("User", "mariadb-app", DATA_NS)["spec"]
    assert user["passwordSecretKeyRef"] == {"name": "mariadb-credentials", "key": "app-password"}
    grant = stack.object("Grant", "mariadb-app-app", DATA_NS)["spec"]
    assert grant["database"] == "app" and grant["grantOption"] is False and "ALL PRIVILEGES" not in grant["privileges"]
    root = stack.object("MariaDB", "mariadb", DATA_NS)["spec"]["rootPasswordSecretKeyRef"]
    assert root == {"name": "mariadb-credentials", "key": "root-password"}


# ---- endpoints (the contract LaravelBackend consumes) -------------------------------------


def test_endpoints_point_at_the_operator_services(stack: Synth) -> None:
    db, cache = stack.outputs["mariadb"], stack.outputs["redis"]
    # mariadb-operator v26.6.0 internal/controller/mariadb_controller.go creates -primary and
    # -secondary only when IsHAEnabled() (replication or Galera); dev runs neither, and its
    # `mariadb` Service is the one that exists.
    primary, replica = {"dev": ("mariadb", "mariadb"), "staging": ("mariadb-primary", "mariadb-secondary"),
                        # medium tier: MaxScale is the one host (components/data/maxscale.py)
                        "prod": ("mariadb-maxscale", "mariadb-maxscale")}[stack.stack]
    assert db == {
        "primaryHost": f"{primary}.saas-data.svc.cluster.local",
        "replicaHost": f"{replica}.saas-data.svc.cluster.local",
        "port": 3306,
        "database": "app",
        "username": "app",
    }
    assert cache == {
        "sentinelHost": "redis-sentinel.saas-data.svc.cluster.local",
        "sentinelPort": 26379,
        "masterName": "mymaster",
        "masterHost": "redis-master.saas-data.svc.cluster.local",
        "port": 6379,
    }


# ---- upstream schemas ---------------------------------------------------------------------


def _operator_crs(stack: Synth) -> list[dict[str, Any]]:
    return [m for _, m in stack.manifests() if m["apiVersion"].startswith(OPERATOR_GROUPS)]


def test_custom_resources_match_upstream_crds(stack: Synth) -> None:
    objects = _operator_crs(stack)
    assert {o["kind"] for o in objects} >= {"MariaDB", "Database", "User", "Grant", "RedisReplication", "RedisSentinel"}
    errors = [e for o in objects for e in crd_errors(o)]
    assert errors == []


def test_crd_check_rejects_a_typo(synthesized: dict[str, Synth]) -> None:
    mariadb = copy.deepcopy(synthesized["prod"].object("MariaDB", "mariadb", DATA_NS))
    mariadb["spec"]["replication"]["primary"]["autoFailovr"] = True
    assert any("autoFailovr" in e for e in crd_errors(mariadb))
    sentinel = copy.deepcopy(synthesized["prod"].object("RedisSentinel", "redis", DATA_NS))
    sentinel["spec"]["clusterSize"] = "three"
    assert crd_errors(sentinel)


def _release(stack: Synth, name: str) -> dict[str, Any]:
    return yaml.safe_load((stack.out / "helm" / f"{name}.yaml").read_text())


@pytest.mark.parametrize(
    ("release", "chart"),
    [("mariadb-operator", "mariadb-operator"), ("mariadb-operator-crds", "mariadb-operator-crds"), ("redis-operator", "redis-operator")],
)
def test_operator_charts_pinned_and_values_known(stack: Synth, release: str, chart: str) -> None:
    helm = _release(stack, release)
    assert helm["version"] == chart_version(chart)
    assert helm["namespace"] == "saas-operators"
    assert unknown_value_paths(chart, helm["values"] or {}) == []


def test_operator_values_set_resources_replicas_and_security(stack: Synth) -> None:
    ha = stack.stack != "dev"
    mariadb = _release(stack, "mariadb-operator")["values"]
    for part in (mariadb, mariadb["webhook"], mariadb["certController"]):
        assert part["resources"]["requests"] and part["securityContext"]["runAsNonRoot"] is True
        assert part["ha"]["enabled"] is ha
    redis = _release(stack, "redis-operator")["values"]
    assert redis["replicas"] == (2 if ha else 1)
    assert redis["securityContext"]["readOnlyRootFilesystem"] is True
    assert redis["redisOperator"]["imageTag"] == "v0.26.0"


def test_values_check_rejects_an_unknown_key() -> None:
    assert unknown_value_paths("mariadb-operator", {"metrics": {"servicemonitor": {"enabled": True}}}) == [
        "metrics.servicemonitor"
    ]
    assert unknown_value_paths("redis-operator", {"redisOperator": {"watchNamespaces": "x"}}) == [
        "redisOperator.watchNamespaces"
    ]


# ---- generated configuration checked by the real servers ---------------------------------


def _mariadbd(path: Path) -> subprocess.CompletedProcess[str]:
    # The option file must come first; --help --verbose parses every option and exits.
    return subprocess.run(
        ["mariadbd", f"--defaults-file={path}", "--help", "--verbose"],
        capture_output=True, text=True, timeout=60,
    )


@pytest.mark.parametrize("memory", ["512Mi", "1Gi", "4Gi", "16Gi"])
def test_my_cnf_is_accepted_by_mariadbd(tmp_path: Path, memory: str) -> None:
    path = tmp_path / "my.cnf"
    path.write_text(render_my_cnf(memory))
    proc = _mariadbd(path)
    assert proc.returncode == 0, proc.stderr
    effective = dict(line.split(None, 1) for line in proc.stdout.splitlines() if line.count(" ") and line[:1].isalpha() and len(line.split(None, 1)) == 2)
    pool = int(effective["innodb-buffer-pool-size"])
    assert pool < quantity_mib(memory) * 1024 * 1024  # fits under the memory limit
    assert effective["slow-query-log"].strip() == "TRUE"
    assert int(effective["max-binlog-size"]) == 64 * 1024 * 1024


def test_mariadbd_rejects_a_broken_my_cnf(tmp_path: Path) -> None:
    path = tmp_path / "my.cnf"
    path.write_text(render_my_cnf("1Gi").replace("innodb_buffer_pool_size", "innodb_bufer_pool_size"))
    proc = _mariadbd(path)
    assert proc.returncode != 0
    assert "unknown variable 'innodb_bufer_pool_size" in proc.stderr



def _start_redis(tmp_path: Path, text: str) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    conf = tmp_path / "redis.conf"
    # What the operator adds itself (port, dir, password) replaced by loopback test values.
    conf.write_text(f"{text}\nbind 127.0.0.1\nport {port}\ndir {tmp_path}\nrequirepass test-only\n")
    proc = subprocess.Popen(["redis-server", str(conf)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    return proc, port


def _connect(proc: subprocess.Popen[bytes], port: int) -> socket.socket:
    deadline = time.monotonic() + 10
    while True:
        try:
            return socket.create_connection(("127.0.0.1", port), timeout=5)
        except OSError:
            output = proc.stdout.read().decode() if proc.poll() is not None and proc.stdout else ""
            assert proc.poll() is None and time.monotonic() < deadline, f"redis-server did not start: {output}"
            time.sleep(0.05)


def test_redis_config_is_accepted_by_redis_server(tmp_path: Path) -> None:
    proc, port = _start_redis(tmp_path, redis_store.render_redis_conf())
    try:
        with _connect(proc, port) as sock:
            sock.sendall(b"AUTH test-only\r\nPING\r\nCONFIG GET appendonly\r\nCONFIG GET maxmemory-policy\r\n")
            replies = b""
            while replies.count(b"\r\n") < 2 + 5 + 5:
                replies += sock.recv(4096)
            sock.sendall(b"SHUTDOWN NOSAVE\r\n")
        assert replies.startswith(b"+OK\r\n+PONG\r\n"), replies
        assert b"appendonly\r\n$3\r\nyes" in replies
        assert b"noeviction" in replies  # data-safety review #9
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_redis_server_rejects_a_broken_config(tmp_path: Path) -> None:
    proc, _ = _start_redis(tmp_path, redis_store.render_redis_conf().replace("appendonly yes", "appendonly perhaps"))
    try:
        assert proc.wait(timeout=10) != 0
        assert b"appendonly" in (proc.stdout.read() if proc.stdout else b"")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


# ---- network -----------------------------------------------------------------------------


def _ports(rule: dict[str, Any]) -> set[int]:
    return {p["port"] for p in rule.get("ports", [])}


def _from_namespace(rule: dict[str, Any]) -> set[str]:
    return {
        peer["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"]
        for peer in rule.get("from", [])
        if "namespaceSelector" in peer
    }


def test_app_namespace_reaches_the_stores_on_their_ports_only(stack: Synth) -> None:
    mariadb = stack.object("NetworkPolicy", "allow-app-to-mariadb", DATA_NS)["spec"]
    (rule,) = mariadb["ingress"]
    assert _from_namespace(rule) == {"saas-app"} and _ports(rule) == {3306}
    redis = stack.object("NetworkPolicy", "allow-app-to-redis", DATA_NS)["spec"]
    (rule,) = redis["ingress"]
    assert _from_namespace(rule) == {"saas-app"} and _ports(rule) == {6379, 26379}
    scrape = stack.object("NetworkPolicy", "allow-monitoring-to-exporters", DATA_NS)["spec"]
    (rule,) = scrape["ingress"]
    # 9105: the MaxScale exporter (medium tier: prod; components/data/maxscale.py).
    assert _from_namespace(rule) == {"saas-monitoring"} and _ports(rule) == {9104, 9121} | ({9105} if stack.stack == "prod" else set())
    # The selectors match the labels the stores' pods carry.
    label = DATA_STORE_LABEL
    assert stack.object("MariaDB", "mariadb", DATA_NS)["spec"]["podMetadata"]["labels"][label] == "mariadb"
    # mysqld-exporter is a separate Deployment whose pods get inheritMetadata +
    # metrics.exporter.podMetadata + selector labels (mariadb-operator v26.6.0
    # pkg/builder/deployment_builder.go BuildExporterDeployment): only podMetadata can put it
    # under the exporters' policy, which is the one admitting Prometheus on 9104.
    exporter = stack.object("MariaDB", "mariadb", DATA_NS)["spec"]["metrics"]["exporter"]["podMetadata"]["labels"]
    (expression,) = scrape["podSelector"]["matchExpressions"]
    assert expression["key"] == label and exporter[label] in expression["values"]
    assert stack.object("RedisReplication", "redis", DATA_NS)["metadata"]["labels"][label] == "redis"
    # Behind MaxScale (prod) the app's policy admits MaxScale's pods, not MariaDB's.
    assert mariadb["podSelector"]["matchExpressions"][0]["values"] == (["maxscale"] if stack.stack == "prod" else ["mariadb"])
    # The replication agent checks the operator's token with a TokenReview.
    api = stack.object("NetworkPolicy", "allow-mariadb-to-kubernetes-api", DATA_NS)["spec"]
    # So does the PITR guard's primary-change watcher (it patches the PhysicalBackup).
    assert api["podSelector"]["matchExpressions"][0]["values"] == ["mariadb", mariadb_store.GUARD_LABEL]
    assert _ports(api["egress"][0]) == {443, 6443}


def test_operators_run_isolated(stack: Synth) -> None:
    ns = "saas-operators"
    labels = stack.object("Namespace", ns)["metadata"]["labels"]
    assert labels["pod-security.kubernetes.io/enforce"] == "restricted"
    assert stack.object("NetworkPolicy", "default-deny", ns)["spec"]["policyTypes"] == ["Ingress", "Egress"]
    api = stack.object("NetworkPolicy", "allow-kubernetes-api", ns)["spec"]
    assert _ports(api["egress"][0]) == {443, 6443}
    manage = stack.object("NetworkPolicy", "allow-manage-data", ns)["spec"]["egress"][0]["to"][0]
    assert manage["namespaceSelector"]["matchLabels"] == {"kubernetes.io/metadata.name": DATA_NS}


# ---- config ------------------------------------------------------------------------------


def test_backups_default_per_environment() -> None:
    assert parse_config(_staging(), "staging").data.backups_enabled is True
    dev = parse_config({**_staging(), "environment": "development", "edge": {"dns": "none"}}, "dev")
    assert dev.data.backups_enabled is False and dev.data.mariadb.memory == "512Mi"


def test_weekday_only_backups_miss_the_rpo() -> None:
    with pytest.raises(config.ConfigError, match=r"saas-platform:data.backups.schedule: '0 \* \* \* 1-5' does not run every day"):
        parse_config(_staging(backups={"schedule": "0 * * * 1-5"}), "staging")


def test_first_backup_waits_for_its_bucket(stack: Synth) -> None:
    """The scheduled PhysicalBackup runs at once (`schedule.immediate`); in-cluster, its bucket
    is made by the SeaweedFS release's hook, so the backup objects depend on that release."""
    backups = [r for r in stack.resources if r["type"] == "kubernetes:k8s.mariadb.com/v1alpha1:PhysicalBackup"]
    if stack.stack == "dev":
        assert backups == []
        return
    # In-cluster: the SeaweedFS release (its hook makes the bucket); on AWS: the bucket itself.
    servers = [
        r["urn"] for r in stack.resources
        if (r["type"] == "kubernetes:helm.sh/v3:Release" and r["name"].endswith("-seaweedfs"))
        or (r["type"] == "aws:s3/bucket:Bucket" and r["name"].endswith("-backups")
            and "BucketReplication" not in r["urn"])  # not its replica (tests/test_storage_replication.py)
    ]
    assert len(servers) == 1
    for backup in backups:
        assert servers[0] in backup["dependencies"], backup["urn"]


def test_destroy_deletes_every_operator_object_before_its_operator(stack: Synth) -> None:
    """`pulumi destroy` deletes in reverse dependency order: each custom resource that carries an
    operator finalizer must (transitively) depend on the release that runs its operator, so it
    is deleted, and its finalizer cleared, while the operator still runs; and nothing is
    retained outside production (a retained object would keep its finalizer for ever)."""
    by_urn = {r["urn"]: r for r in stack.resources}

    def reaches(urn: str, target: str, seen: set[str] | None = None) -> bool:
        seen = seen if seen is not None else set()
        if urn == target:
            return True
        seen.add(urn)
        record = by_urn.get(urn)
        return bool(record) and any(reaches(d, target, seen) for d in record["dependencies"] if d not in seen)

    releases = {r["name"]: r["urn"] for r in stack.of_type("kubernetes:helm.sh/v3:Release")}
    operator_of = {"k8s.mariadb.com": releases["mariadb-operator"], "redis.redis.opstreelabs.in": releases["redis-operator"]}
    checked = 0
    for record in stack.resources:
        group = record["type"].split(":")[1].split("/")[0] if record["type"].startswith("kubernetes:") else ""
        if group in operator_of:
            assert reaches(record["urn"], operator_of[group]), record["urn"]
            if stack.stack != "prod":
                assert record["retainOnDelete"] is False, record["urn"]
            checked += 1
    assert checked >= 5
