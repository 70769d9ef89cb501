"""Data-safety review (issue 23): each finding's fix, per stack, as the operators will read it.

Findings are numbered as in the review (MariaDB 1-7, 13, 14, 17-19, 23, C1 here; Redis,
queue, RabbitMQ and object storage further down). Where a test encodes operator behaviour its
comment names the upstream file at the pinned tag.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import yaml

from components import config
from components.data import mariadb_base as mariadb_store
from components.config.backup_timing import quantity_mib
from components.data.maintenance import primary_watch_script
from components.data.mariadb_spec import mariadb_spec
from components.data import maxscale
from rehearsal.ports import free_port
from tests.conftest import ROOT, Synth, parse_config, run_synth
from tests.upstream import crd_errors

DATA_NS = "saas-data"


def _stack_values(stack: str, **overrides: Any) -> dict[str, Any]:
    raw = yaml.safe_load((ROOT / f"Pulumi.{stack}.yaml").read_text())["config"]
    values = {k.split(":", 1)[1]: v for k, v in raw.items() if k.startswith("saas-platform:")}
    values.update(overrides)
    return values


def _cfg(stack: str = "prod", **overrides: Any) -> config.StackConfig:
    return parse_config(_stack_values(stack, **overrides), stack)


def _spec(cfg: config.StackConfig) -> dict[str, Any]:
    return mariadb_spec(cfg, "mariadb", "mariadb-credentials", "mariadb-pitr")


def _duration_seconds(value: str) -> int:
    units = {"s": 1, "m": 60, "h": 3600}
    return int(value[:-1]) * units[value[-1]]


# ---- 1: failover can complete ---------------------------------------------------------------


def test_failover_delay_is_inside_the_replica_readiness_window(stack: Synth) -> None:
    """mariadb-operator v26.6.0 docs/replication.md:272: the failover delay must be lower than
    the readiness failure window, or every replica is NotReady when failover may start
    (replicas lose `Seconds_Behind_Master` the moment the primary goes:
    pkg/agent/handler/replication/probe.go:136-143; only Ready replicas are promoted:
    pkg/controller/replication/failover.go:51-76). The window must also outlast the ~40-50 s a
    dead node needs before its primary pod turns NotReady (upstream #1628, #1846)."""
    spec = stack.object("MariaDB", "mariadb", DATA_NS)["spec"]
    if "replication" not in spec:
        assert stack.stack == "dev"
        return
    if spec.get("maxScaleRef"):  # MaxScale fails over (mariadbmon), not the operator
        assert spec["replication"]["primary"] == {"autoFailover": False}
        return
    delay = _duration_seconds(spec["replication"]["primary"]["autoFailoverDelay"])
    probe = spec.get("readinessProbe", {})
    window = probe.get("periodSeconds", 10) * probe.get("failureThreshold", 3)  # k8s defaults
    assert delay < window
    assert window - delay >= 60


# ---- 2: replica backups survive their own run -----------------------------------------------


def test_replica_liveness_outlasts_the_backup_timeout(stack: Synth) -> None:
    """`--safe-slave-backup` stops the replica's SQL thread for the whole backup (v26.6.0
    pkg/command/backup.go:641-647) and /liveness fails while it is stopped
    (pkg/agent/handler/replication/probe.go:78-83): the liveness window must exceed the
    longest backup the operator lets run (its `timeout`). Measured: test_data_safety_experiment."""
    spec = stack.object("MariaDB", "mariadb", DATA_NS)["spec"]
    backups = stack.objects("PhysicalBackup", DATA_NS)
    if stack.stack == "dev":
        assert backups == []
        return
    probe = spec.get("livenessProbe", {})
    window = probe.get("periodSeconds", 10) * probe.get("failureThreshold", 3)
    for backup in backups:
        assert backup["spec"]["target"] == "PreferReplica"
        timeout = _duration_seconds(backup["spec"].get("timeout", "1h"))
        assert timeout < window, backup["metadata"]["name"]
        # ... and the backup ends before the next scheduled one is due (hourly).
        assert timeout < 3600


# ---- 3: backups do not pause while the MariaDB is not Ready ---------------------------------


def test_backups_do_not_wait_for_a_ready_mariadb(stack: Synth) -> None:
    """`waitForIt: true` pauses every backup while any pod is down, archival errors or a resize
    runs (v26.6.0 internal/controller/physicalbackup_controller.go:85-101,
    pkg/condition/ready.go:95-176); upstream's guidance for PreferReplica is false."""
    for backup in stack.objects("PhysicalBackup", DATA_NS):
        assert backup["spec"]["mariaDbRef"]["waitForIt"] is False


# ---- 4: the recoverable point keeps moving ---------------------------------------------------


def _cron(stack: Synth, name: str) -> dict[str, Any]:
    return stack.object("CronJob", name, DATA_NS)


def test_quiet_primary_binlogs_are_closed_within_the_rpo(stack: Synth) -> None:
    """Only closed binlogs are archived, every 10 min (v26.6.0 pkg/binlog/archiver.go:39,
    188-190): a flush every 10 min bounds the archive lag of a quiet primary at ~20 min."""
    if stack.stack == "dev":
        assert stack.objects("CronJob", DATA_NS) == []
        return
    cron = _cron(stack, "mariadb-flush-binlogs")
    assert cron["spec"]["schedule"] == f"*/{mariadb_store.BINLOG_FLUSH_MINUTES} * * * *"
    assert cron["spec"]["concurrencyPolicy"] == "Forbid"
    pod = cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert "FLUSH BINARY LOGS" in container["command"][-1]
    assert "--host=mariadb-primary" in container["command"][-1]
    # The root password comes from the mounted Secret into an option file: never argv or env.
    assert "env" not in container
    (volume,) = [v for v in pod["volumes"] if v["name"] == "secret"]
    assert volume["secret"]["secretName"] == "mariadb-credentials"
    assert f"{mariadb_store.SECRET_DIR}/root-password" in container["command"][-1]
    assert "--defaults-extra-file=/tmp/client.cnf" in container["command"][-1]
    assert mariadb_store.BINLOG_FLUSH_MINUTES + mariadb_store.ARCHIVE_INTERVAL_MINUTES < 60


def test_a_primary_change_triggers_a_new_full_backup(stack: Synth) -> None:
    """Binlog timelines cannot cross a primary change (v26.6.0 pkg/binlog/binlog.go:58-169):
    the watcher sets `spec.schedule.onDemand` (a new identifier triggers a backup, CRD
    physicalbackups.k8s.mariadb.com v26.6.0) when `status.currentPrimary` changed."""
    if stack.stack == "dev":
        return
    cron = _cron(stack, "mariadb-backup-on-failover")
    assert cron["spec"]["schedule"] == f"*/{mariadb_store.PRIMARY_WATCH_MINUTES} * * * *"
    pod = cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    script = pod["containers"][0]["command"][-1]
    assert "status.currentPrimary" in script and "onDemand" in script and "mariadb-physical" in script
    assert pod["serviceAccountName"] == "mariadb-backup-on-failover" and pod["automountServiceAccountToken"] is True
    role = stack.object("Role", "mariadb-backup-on-failover", DATA_NS)
    # Least privilege: read this MariaDB, patch only its PhysicalBackup.
    assert {(tuple(r["resources"]), tuple(r["resourceNames"]), tuple(r["verbs"])) for r in role["rules"]} == {
        (("mariadbs",), ("mariadb",), ("get",)),
        (("physicalbackups",), ("mariadb-physical",), ("get", "patch")),
    }


def test_primary_watch_script_runs_under_a_shell(tmp_path: Path) -> None:
    """The watcher's script, run by /bin/sh against a fake kubectl: no change -> no backup;
    a change -> onDemand patch plus the annotation."""
    import os
    import subprocess

    calls = tmp_path / "calls"
    kubectl = tmp_path / "kubectl"
    kubectl.write_text(
        "#!/bin/sh\n"
        f'echo "$@" >> {calls}\n'
        'case "$*" in\n'
        '  *"get mariadb"*) echo -n "$PRIMARY";;\n'
        '  *"get physicalbackup"*) echo "{\\"metadata\\":{\\"annotations\\":{\\"saas-platform.io/backup-primary\\":\\"$LAST\\"}}}";;\n'
        "esac\n"
    )
    kubectl.chmod(0o755)
    script = primary_watch_script("mariadb")
    env = {**os.environ, "PATH": f"{tmp_path}:{os.environ['PATH']}"}
    for primary, last, patched in (("mariadb-0", "mariadb-0", False), ("mariadb-1", "mariadb-0", True)):
        calls.write_text("")
        proc = subprocess.run(["/bin/sh", "-c", script], env={**env, "PRIMARY": primary, "LAST": last},
                              capture_output=True, text=True, timeout=10)
        assert proc.returncode == 0, proc.stderr
        log = calls.read_text()
        assert ("patch physicalbackup mariadb-physical" in log and "onDemand" in log) is patched
        assert ("annotate --overwrite physicalbackup mariadb-physical saas-platform.io/backup-primary=mariadb-1" in log) is patched


# ---- 5: a restore never silently lands earlier ---------------------------------------------


def test_pitr_strict_mode(stack: Synth) -> None:
    """strictMode false replays up to the last recoverable time and only logs an error
    (v26.6.0 api/v1alpha1/pointintimerecovery_types.go:28-34, docs/pitr.md "Strict mode")."""
    for pitr in stack.objects("PointInTimeRecovery", DATA_NS):
        assert pitr["spec"]["strictMode"] is True


# ---- 7 / 25: storage growth cannot freeze the database; volumes outlive their claims -------


def test_data_volumes_use_an_expandable_retained_class(stack: Synth) -> None:
    """A size increase on a class without volume expansion leaves the MariaDB "resizing
    storage" with failover, backups and archival skipped (v26.6.0
    internal/controller/mariadb_controller_storage.go:37-156)."""
    mariadb = stack.object("MariaDB", "mariadb", DATA_NS)["spec"]["storage"]
    redis = stack.object("RedisReplication", "redis", DATA_NS)["spec"]["storage"]["volumeClaimTemplate"]["spec"]
    if stack.stack == "dev":  # the laptop cluster's default class; nothing to grow into
        assert stack.objects("StorageClass") == []
        assert "storageClassName" not in mariadb
        return
    storage_class = stack.object("StorageClass", config.DATA_STORAGE_CLASS)
    assert storage_class["allowVolumeExpansion"] is True
    assert storage_class["reclaimPolicy"] == "Retain"
    assert storage_class["volumeBindingMode"] == "WaitForFirstConsumer"
    assert mariadb["storageClassName"] == redis["storageClassName"] == config.DATA_STORAGE_CLASS
    assert mariadb["resizeInUseVolumes"] is True


def test_a_store_naming_its_own_class_keeps_it() -> None:
    cfg = _cfg("prod", data={"mariadb": {"storageClass": "premium-rwo"}})
    assert _spec(cfg)["storage"]["storageClassName"] == "premium-rwo"
    assert cfg.data.redis.storage_class == config.DATA_STORAGE_CLASS


def test_bad_volume_provisioner_is_a_clear_error() -> None:
    with pytest.raises(config.ConfigError, match=r"data\.volumes\.provisioner"):
        _cfg("prod", data={"volumes": {"provisioner": "Not A Provisioner"}})


# ---- 13 / 14: backup and restore staging on a volume sized for the database ----------------


def test_backup_and_restore_stage_on_a_volume_not_the_node_disk() -> None:
    """The staging area defaults to an emptyDir on the database's node (v26.6.0
    api/v1alpha1/physicalbackup_types.go:362-373, pkg/builder/batch_builder.go:157-290)."""
    cfg = _cfg("prod")
    staging = mariadb_store.staging_storage(cfg)["stagingStorage"]["persistentVolumeClaim"]
    size = quantity_mib(staging["resources"]["requests"]["storage"])
    assert size >= 1.2 * quantity_mib(cfg.data.mariadb.storage)
    assert mariadb_store.staging_storage(_cfg("dev")) == {}


def test_backup_objects_carry_the_staging_volume(stack: Synth) -> None:
    for backup in stack.objects("PhysicalBackup", DATA_NS):
        assert "persistentVolumeClaim" in backup["spec"]["stagingStorage"]
        assert crd_errors(backup) == []


# ---- 16: generated credentials protected in production ------------------------------------


def test_generated_passwords_are_protected_in_prod(stack: Synth) -> None:
    passwords = {r["name"]: r for r in stack.of_type("random:index/randomPassword:RandomPassword")}
    for name in ("mariadb-root-password", "mariadb-app-password", "redis-password"):
        assert passwords[name]["protect"] is (stack.stack == "prod"), name


# ---- 17: production spreads database pods over zones, strictly -----------------------------


def test_production_database_pods_never_share_a_zone() -> None:
    (prod,) = _spec(_cfg("prod"))["topologySpreadConstraints"]
    assert prod["whenUnsatisfiable"] == "DoNotSchedule"
    (staging,) = _spec(_cfg("staging"))["topologySpreadConstraints"]
    assert staging["whenUnsatisfiable"] == "ScheduleAnyway"


# ---- 19: semi-sync never exposes what a failover can lose -----------------------------------


def test_semi_sync_waits_after_sync(stack: Synth) -> None:
    """AfterCommit (the operator's default, v26.6.0 api/v1alpha1/mariadb_replication_types.go
    :271-286) lets other sessions read a transaction no replica has yet."""
    replication = stack.object("MariaDB", "mariadb", DATA_NS)["spec"].get("replication")
    if replication:
        assert replication["semiSyncWaitPoint"] == "AfterSync"
        assert replication["semiSyncEnabled"] is True


# ---- 23: the app user's connection cap covers the tier at full scale -----------------------


@pytest.mark.parametrize("size", ["small", "medium", "large"])
def test_app_connection_cap_covers_full_scale(size: str) -> None:
    from components import k8s as kube
    from components.backend import files as laravel_files

    # large: MaxScale fronts three servers, beyond the BSL grant without a subscription (config.py).
    cfg = _cfg("prod", size=size, **({"data": {"maxscale": {"licensed": True}}} if size == "large" else {}))
    php = cfg.raw.backend.php
    children = laravel_files.PhpSettings(
        memory_limit_mb=kube.mebibytes(cfg.sizes.backend.memory_limit),
        worker_mb=php.workerMemoryMb, php_memory_limit_mb=php.memoryLimitMb, upload_max_mb=php.uploadMaxMb,
        request_timeout=php.requestTimeout, grace_seconds=0,
    ).max_children
    demand = cfg.replicas.backend.max * children + cfg.replicas.workers.max
    # Behind MaxScale the user also holds the connection pool (persistpoolmax per server).
    cap = mariadb_store.app_connection_demand(cfg) + maxscale.pool_size(cfg)
    assert cap - maxscale.pool_size(cfg) >= demand
    # The server accepts that many plus the operator, agent, exporter and admins.
    max_connections = int(next(
        line.split("=")[1] for line in _spec(cfg)["myCnf"].splitlines() if line.startswith("max_connections")
    ))
    assert max_connections >= cap + 20


# ---- C1: replication never with a single pod -----------------------------------------------


@pytest.mark.parametrize("stack_name", ["staging", "prod"])
def test_replication_always_has_two_pods(stack_name: str) -> None:
    """v26.6.0 internal/webhook/v1alpha1/mariadb_webhook.go:96-111 rejects replication with
    `replicas: 1` ("Multiple replicas must be specified")."""
    spec = _spec(_cfg(stack_name, size="small"))
    assert spec["replication"]["enabled"] is True
    assert spec["replicas"] >= 2


# ---- 6 / 18: restore lineage, finishing, protected URNs, cluster loss -----------------------

TARGET_1 = "2026-11-20T18:00:00Z"
RESTORED_1 = "mariadb-r20261120180000"
TARGET_2 = "2026-11-22T09:30:00Z"
RESTORED_2 = "mariadb-r20261122093000"

SCENARIOS: dict[str, dict[str, Any]] = {
    "restoring": {"mariadb": {"restore": {"targetTime": TARGET_1}}},
    "finished": {"mariadb": {"instance": RESTORED_1}},
    "second": {"mariadb": {"instance": RESTORED_1, "restore": {"targetTime": TARGET_2}}},
    "rebuilt": {"mariadb": {"restore": {"targetTime": TARGET_1, "newCluster": True}}},
}


@pytest.fixture(scope="module")
def scenarios(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Synth]:
    base = tmp_path_factory.mktemp("restore-scenarios")

    def synth(item: tuple[str, dict[str, Any]]) -> Synth:
        name, data = item
        raw = yaml.safe_load((ROOT / "Pulumi.prod.yaml").read_text())["config"]
        raw["saas-platform:data"] = {**(raw.get("saas-platform:data") or {}), **data}
        stack_file = base / f"Pulumi.{name}.yaml"
        stack_file.write_text(yaml.safe_dump({"config": raw}))
        proc = run_synth("prod", base / name, "--stack-file", str(stack_file))
        result = Synth.load("prod", base / name, proc)
        assert proc.returncode == 0, f"{name}: {proc.stdout}\n{proc.stderr}"
        return result

    with ThreadPoolExecutor(max_workers=2) as pool:
        return dict(zip(SCENARIOS, pool.map(synth, SCENARIOS.items())))


def _protected(synth: Synth) -> set[str]:
    return {r["urn"] for r in synth.resources if r.get("protect")}


def test_starting_a_restore_removes_nothing_protected(synthesized: dict[str, Synth], scenarios: dict[str, Synth]) -> None:
    """The review's #6c: today's restore plan deletes two protected URNs, so the `up` fails
    mid-incident. Now the instance in service stays rendered, unchanged."""
    assert _protected(synthesized["prod"]) <= _protected(scenarios["restoring"])
    before = synthesized["prod"].object("MariaDB", "mariadb", DATA_NS)
    assert scenarios["restoring"].object("MariaDB", "mariadb", DATA_NS) == before


def test_restore_never_drops_the_running_app_user(stack: Synth) -> None:
    """A deleted User/Grant with cleanupPolicy Delete runs DROP USER (v26.6.0
    internal/controller/user_controller_finalizer.go:53) under pods still connected."""
    for kind in ("User", "Grant"):
        for obj in stack.objects(kind, DATA_NS):
            if obj["apiVersion"].startswith("k8s.mariadb.com/"):
                assert obj["spec"]["cleanupPolicy"] == "Skip", obj["metadata"]["name"]


def test_a_second_restore_reads_the_restored_instance_archive(scenarios: dict[str, Synth]) -> None:
    second = scenarios["second"]
    spec = second.object("MariaDB", RESTORED_2, DATA_NS)["spec"]
    assert spec["bootstrapFrom"]["pointInTimeRecoveryRef"] == {"name": f"{RESTORED_1}-pitr"}
    assert spec["bootstrapFrom"]["targetRecoveryTime"] == TARGET_2
    # prod runs MaxScale (medium tier): each restored instance gets its own, the app's one host.
    assert second.outputs["mariadb"]["primaryHost"].startswith(f"{RESTORED_2}-maxscale.")
    # The original instance is long gone from the program; the first restore is the source.
    assert second.objects("MariaDB", DATA_NS) and all(
        m["metadata"]["name"] in {RESTORED_1, RESTORED_2} for m in second.objects("MariaDB", DATA_NS)
    )


def test_finishing_a_restore_keeps_the_restored_instance(scenarios: dict[str, Synth]) -> None:
    """The restore key is removable: the restored instance keeps its URN (no create of an
    object that exists: pulumi-kubernetes provider/pkg/await/await.go:190-276) and drops
    `bootstrapFrom`, which the operator's webhook allows (only its sub-fields are immutable:
    v26.6.0 api/v1alpha1/mariadb_types.go BootstrapFrom, pkg/webhook/inmutable_webhook.go)."""
    restoring, finished = scenarios["restoring"], scenarios["finished"]
    urn = next(r["urn"] for r in restoring.resources if r["name"] == RESTORED_1 and r["type"].endswith(":MariaDB"))
    assert urn in {r["urn"] for r in finished.resources}
    assert "bootstrapFrom" not in finished.object("MariaDB", RESTORED_1, DATA_NS)["spec"]
    assert finished.outputs["mariadb"]["primaryHost"].startswith(f"{RESTORED_1}-maxscale.")
    assert [f for f in finished.findings if f["level"] == "mandatory"] == []


def test_the_runbook_names_every_protected_urn_finishing_removes(scenarios: dict[str, Synth]) -> None:
    removed = _protected(scenarios["restoring"]) - _protected(scenarios["finished"])
    assert removed, "finishing a restore retires the old instance"
    runbook = (ROOT / "docs" / "operations.md").read_text()
    for urn in sorted(removed):
        # The runbook writes them for any instance: `...::<old>`, `...::<old>-database-app`.
        name = urn.split("::")[-1]
        template = urn.replace("urn:pulumi:prod::", "urn:pulumi:<stack>::")[: -len(name)] + name.replace("mariadb", "<old>", 1)
        assert f"pulumi state unprotect '{template}'" in runbook, template


def test_cluster_loss_restore_writes_nothing_into_the_live_prefixes(scenarios: dict[str, Synth]) -> None:
    """A plain rebuild would create an empty `mariadb` whose immediate backup lands in the live
    `mariadb/physical` prefix and whose archiver refuses the non-empty `mariadb/binlogs`
    (v26.6.0 pkg/binlog/archiver.go:158-162, 323-350)."""
    rebuilt = scenarios["rebuilt"]
    assert [m["metadata"]["name"] for m in rebuilt.objects("MariaDB", DATA_NS)] == [RESTORED_1]
    source = rebuilt.object("PhysicalBackup", "mariadb-physical", DATA_NS)["spec"]
    assert source["schedule"]["suspend"] is True and source["schedule"]["immediate"] is False
    for backup in rebuilt.objects("PhysicalBackup", DATA_NS) + rebuilt.objects("PointInTimeRecovery", DATA_NS):
        if backup["metadata"]["name"].startswith(RESTORED_1):
            assert backup["spec"]["storage"]["s3"]["prefix"].startswith(f"{RESTORED_1}/")
    assert not [c for c in rebuilt.objects("CronJob", DATA_NS) if c["metadata"]["name"].startswith("mariadb-flush")]


def test_restore_to_the_instance_in_service_is_refused() -> None:
    with pytest.raises(config.ConfigError, match=r"data\.mariadb\.restore\.targetTime.*already the restore"):
        _cfg("prod", data={"mariadb": {"instance": RESTORED_1, "restore": {"targetTime": TARGET_1}}})


def test_unknown_instance_name_is_refused() -> None:
    with pytest.raises(config.ConfigError, match=r"data\.mariadb\.instance: .postgres. is not a MariaDB instance of this stack"):
        _cfg("prod", data={"mariadb": {"instance": "postgres"}})


# ---- 9 / 15: Redis never evicts the queue, refuses writes it would lose ----------------------


def _redis(tmp_path: Path, conf: str, *extra: str) -> tuple[Any, int]:
    """redis-server on loopback with the rendered conf (plus test-only lines)."""
    import subprocess
    import time

    port = free_port()
    path = tmp_path / f"redis-{port}.conf"
    path.write_text("\n".join([conf, f"port {port}", "bind 127.0.0.1", f"dir {tmp_path}", "appendonly no", *extra]) + "\n")
    proc = subprocess.Popen(["redis-server", str(path)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while _cli(port, "PING") != "PONG":
        assert proc.poll() is None and time.monotonic() < deadline, "redis-server did not start"
        time.sleep(0.05)
    return proc, port


def _cli(port: int, *command: str) -> str:
    import subprocess

    proc = subprocess.run(["redis-cli", "-p", str(port), *command], capture_output=True, text=True, timeout=10)
    return proc.stdout.strip()


def test_queue_backlog_never_evicts_sessions_or_jobs(tmp_path: Path) -> None:
    """The review's §E.3 on redis-server 7.0 with the rendered conf: a backlog at maxmemory
    evicted the session and lost pushes silently from the app's point of view. Now nothing
    is evicted; a push beyond maxmemory is refused with an error the dispatcher sees."""
    import subprocess

    from components.data import redis as redis_store

    proc, port = _redis(tmp_path, redis_store.render_redis_conf(_cfg("dev")), "maxmemory 3mb")
    try:
        _cli(port, "SET", "saas_session:1", "x", "EX", "3600")
        payload = "j" * 600
        script = "".join(f"RPUSH saas_queues:default {payload}\n" for _ in range(6000))
        pushes = subprocess.run(["redis-cli", "-p", str(port)], input=script, capture_output=True, text=True, timeout=60)
        replies = pushes.stdout.splitlines()
        accepted = [r for r in replies if r.isdigit()]
        refused = [r for r in replies if "OOM" in r]
        assert refused, "the backlog never reached maxmemory: the test proves nothing"
        assert _cli(port, "EXISTS", "saas_session:1") == "1"
        assert "evicted_keys:0" in _cli(port, "INFO", "stats")
        # Every push Redis acknowledged is in the queue.
        assert int(_cli(port, "LLEN", "saas_queues:default")) == len(accepted)
    finally:
        proc.kill()
        proc.wait()


def test_isolated_master_refuses_writes(tmp_path: Path) -> None:
    """`min-replicas-to-write 1` (staging, production): a master without a replica (a
    partitioned zone, or an old master back as a standalone master while the operator races
    Sentinel: redis-operator v0.26.0 redisreplication_controller.go:391-470) refuses writes."""
    from components.data import redis as redis_store

    from components.data import tls as data_tls

    # Without the TLS lines (their certificate files exist only in the pods; the TLS lines run
    # under redis-server with real certificates in tests/test_data_tls.py).
    conf = redis_store.render_redis_conf(_cfg("staging")).replace(data_tls.redis_tls_conf(), "")
    assert "min-replicas-to-write 1" in conf
    proc, port = _redis(tmp_path, conf)
    try:
        assert "NOREPLICAS" in _cli(port, "RPUSH", "saas_queues:default", "job")
    finally:
        proc.kill()
        proc.wait()


def test_ha_redis_runs_three_pods(stack: Synth) -> None:
    """With two pods the new master has no replica once the old one returns, and the operator
    falls back to its stale Status.MasterNode (v0.26.0 redisreplication_controller.go:418-430)."""
    size = stack.object("RedisReplication", "redis", DATA_NS)["spec"]["clusterSize"]
    assert size == (1 if stack.stack == "dev" else 3)


# ---- 16: a rotated Redis password reaches every pod -----------------------------------------


def test_redis_pods_roll_when_the_password_changes(stack: Synth) -> None:
    """redis-operator v0.26.0 puts no hash of the Secret on the pod template
    (internal/k8sutils/statefulset.go:866-872, 1056-1062): the digest env var does."""
    for kind in ("RedisReplication", "RedisSentinel"):
        env = {e["name"]: e["value"] for e in stack.object(kind, "redis", DATA_NS)["spec"]["env"]}
        assert len(env["REDIS_PASSWORD_REVISION"]) == 16


def test_password_revision_follows_the_password() -> None:
    import pulumi

    from components.data import redis as redis_store

    seen: list[str] = []

    @pulumi.runtime.test
    def check() -> pulumi.Output[Any]:
        a = redis_store.password_revision("first-password")
        b = redis_store.password_revision("second-password")
        return pulumi.Output.all(a, b).apply(lambda values: seen.extend(values))

    check()
    assert len(seen) == 2 and seen[0] != seen[1] and "password" not in "".join(seen)


# ---- 10 / 21: Laravel workers outlast an RTO and stop gracefully ---------------------------


def _worker(stack: Synth) -> dict[str, Any]:
    return stack.object("Deployment", "backend-worker", "saas-app")["spec"]["template"]["spec"]


def test_worker_retries_outlast_the_rto(stack: Synth) -> None:
    """A job failing its last try is deleted before failed_jobs is written, into the database
    that is down (laravel/framework src/Illuminate/Queue/Jobs/Job.php fail())."""
    command = next(c for c in _worker(stack)["containers"] if c["name"] == "worker")["command"]
    tries = int(next(a for a in command if a.startswith("--tries=")).split("=")[1])
    backoff = [int(b) for b in next(a for a in command if a.startswith("--backoff=")).split("=")[1].split(",")]
    # The waits between the tries (the last value repeats when there are more tries).
    waits = [backoff[min(i, len(backoff) - 1)] for i in range(tries - 1)]
    assert sum(waits) >= 2 * 15 * 60


def test_workers_refuse_to_start_without_pcntl(stack: Synth) -> None:
    """queue:work handles SIGTERM and --timeout only with pcntl (laravel/framework
    src/Illuminate/Queue/Worker.php supportsAsyncSignals)."""
    import subprocess

    (init,) = [c for c in _worker(stack)["initContainers"] if c["name"] == "require-pcntl"]
    assert init["command"][:2] == ["php", "-r"]
    code = init["command"][2]
    assert subprocess.run(["php8.2", "-r", code], capture_output=True, timeout=10).returncode == 0
    missing = subprocess.run(["php8.2", "-r", code.replace("'pcntl'", "'no_such_extension'")], capture_output=True, text=True, timeout=10)
    assert missing.returncode == 1 and "pcntl" in missing.stderr


# ---- 11: RabbitMQ quorum survives a node drain ----------------------------------------------


def test_rabbitmq_brokers_never_share_a_node_and_drain_one_at_a_time(stack: Synth) -> None:
    """cluster-operator v2.22.3 sets only a ScheduleAnyway zone spread and no PDB
    (internal/resource/statefulset.go:1245-1263)."""
    cluster = stack.object("RabbitmqCluster", "rabbitmq", DATA_NS)["spec"]
    assert "quorum_queue.continuous_membership_reconciliation.enabled = true" in cluster["rabbitmq"]["additionalConfig"]
    if stack.stack == "dev":
        assert "affinity" not in cluster
        return
    (term,) = cluster["affinity"]["podAntiAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    assert term["topologyKey"] == "kubernetes.io/hostname"
    assert term["labelSelector"]["matchLabels"]["app.kubernetes.io/name"] == "rabbitmq"
    pdb = stack.object("PodDisruptionBudget", "rabbitmq-brokers", DATA_NS)["spec"]
    assert pdb["maxUnavailable"] == 1 and pdb["selector"]["matchLabels"] == term["labelSelector"]["matchLabels"]
    assert cluster["replicas"] - pdb["maxUnavailable"] >= cluster["replicas"] // 2 + 1  # a quorum stays


# ---- 8: archived binlogs are pruned --------------------------------------------------------


def test_binlog_pruner_deletes_only_what_no_backup_needs(stack: Synth, tmp_path: Path) -> None:
    import os
    import subprocess

    if stack.stack == "dev":
        return
    cron = stack.object("CronJob", "mariadb-prune-binlogs", DATA_NS)
    (container,) = cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"]
    script = container["command"][-1]
    retention_hours = int(stack.object("PhysicalBackup", "mariadb-physical", DATA_NS)["spec"]["maxRetention"].rstrip("h"))
    assert f"- {(retention_hours + mariadb_store.BINLOG_RETENTION_MARGIN_HOURS) * 3600} " in script
    assert '--prefix "mariadb/binlogs/"' in script
    # Played against a fake `aws`: the listed old keys are deleted, nothing else.
    calls = tmp_path / "calls"
    fake = tmp_path / "aws"
    fake.write_text(
        "#!/bin/sh\n"
        f'echo "$@" >> {calls}\n'
        'case "$2" in list-objects-v2) printf "mariadb/binlogs/a.gz\\tmariadb/binlogs/b.gz\\n";; esac\n'
    )
    fake.chmod(0o755)
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    (secrets / "access-key-id").write_text("AKIATEST")
    (secrets / "secret-access-key").write_text("s3cr3t")
    script = script.replace(mariadb_store.SECRET_DIR, str(secrets)).replace("/tmp/credentials", str(tmp_path / "credentials"))
    env = {**os.environ, "PATH": f"{tmp_path}:{os.environ['PATH']}", "S3_ENDPOINT": "http://s3", "BUCKET": "b"}
    proc = subprocess.run(["/bin/sh", "-c", script], env=env, capture_output=True, text=True, timeout=10)
    assert proc.returncode == 0, proc.stderr
    # The key reached the CLI's credentials file, readable by the pod's user only.
    credentials = tmp_path / "credentials"
    assert "aws_access_key_id = AKIATEST" in credentials.read_text()
    assert credentials.stat().st_mode & 0o077 == 0
    deleted = [line for line in calls.read_text().splitlines() if "delete-object" in line]
    assert [line.split("--key ")[1] for line in deleted] == ["mariadb/binlogs/a.gz", "mariadb/binlogs/b.gz"]


# ---- 12: bucket names never follow the domain -----------------------------------------------


def test_a_domain_change_keeps_the_bucket_names() -> None:
    from components.storage import layout as object_storage

    cfg = _cfg("staging")
    moved = _cfg("staging", domain="other.example.org")
    # The committed staging file fixes bucketPrefix (its domain with dashes): a domain change
    # keeps it.
    assert object_storage.name_prefix(cfg) == object_storage.name_prefix(moved) == "example-net"


# ---- 20: backups cannot be destroyed with the in-cluster key -------------------------------


def test_prod_backup_versions_are_locked(synthesized: dict[str, Synth]) -> None:
    from components.storage import layout as object_storage

    prod = synthesized["prod"]
    # The backups bucket's own lock (its replica carries the same one: test_storage_replication).
    (lock,) = [
        lock for lock in prod.of_type("aws:s3/bucketObjectLockConfiguration:BucketObjectLockConfiguration")
        if lock["inputs"]["bucket"].endswith("-prod-backups")
    ]
    retention = lock["inputs"]["rule"]["defaultRetention"]
    assert (retention["mode"], retention["days"]) == ("GOVERNANCE", object_storage.BACKUP_LOCK_DAYS)
    # No key in the cluster may delete a version or bypass the lock.
    for action in ("s3:DeleteObjectVersion", "s3:BypassGovernanceRetention", "s3:*"):
        assert action not in object_storage.OBJECT_ACTIONS + object_storage.BUCKET_ACTIONS


def test_production_redis_and_sentinels_spread_strictly_over_zones(stack: Synth) -> None:
    """Review #17: preferred anti-affinity alone lets a master with its replicas, or two of
    three Sentinels, share a zone."""
    for kind in ("RedisReplication", "RedisSentinel"):
        spec = stack.object(kind, "redis", DATA_NS)["spec"]
        constraints = spec.get("topologySpreadConstraints", [])
        if stack.stack != "prod":
            assert constraints == [], kind
            continue
        (zone,) = constraints
        assert (zone["topologyKey"], zone["whenUnsatisfiable"], zone["maxSkew"]) == (
            "topology.kubernetes.io/zone", "DoNotSchedule", 1,
        )
        assert zone["labelSelector"]["matchLabels"]["app.kubernetes.io/name"] == "redis"
