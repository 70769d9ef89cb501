"""The monthly recovery drill (issue 21 item 1, components/data/drills.py), per stack.

Upstream behaviour encoded here: mariadb-operator v26.6.0 api/v1alpha1/mariadb_types.go
(BootstrapFrom: `backupRef` of kind PhysicalBackup restores the backup closest to the target
time, now by default) and internal/webhook/v1alpha1/mariadb_webhook.go (validateHA: one pod
means no replication); kube-state-metrics v2.20.0 internal/store/cronjob.go
(`kube_cronjob_status_last_successful_time`, `kube_cronjob_created`).
"""

from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from components.data import drills
from rehearsal.metrics import catalog_owner
from rehearsal.ports import free_port
from tests.conftest import ROOT, Synth, parse_config
from tests.rehearsal_helpers import cli, copy, edit_manifest, findings_of
from tests.upstream import crd_errors

DATA_NS = "saas-data"
DRILL_ALERTS = {"MariaDBRecoveryDrillFailed", "MariaDBRecoveryDrillMissing", "MariaDBRecoveryDrillSlow",
                "MariaDBRecoveryDrillDataStale"}


def _scratch(synth: Synth) -> dict[str, Any]:
    config_map = synth.object("ConfigMap", drills.DRILL, DATA_NS)
    assert config_map["metadata"]["annotations"]["saas-platform.io/runtime-objects"] == "scratch.yaml"
    return yaml.safe_load(config_map["data"]["scratch.yaml"])


def _alerts(synth: Synth) -> set[str]:
    return {r.get("alert") for rule in synth.objects("PrometheusRule") for g in rule["spec"]["groups"] for r in g["rules"]}


# ---- on in production, absent where it does not belong ---------------------------------------


def test_drill_runs_monthly_in_production_only(stack: Synth) -> None:
    cron = [c for c in stack.objects("CronJob", DATA_NS) if c["metadata"]["name"] == drills.DRILL]
    if stack.stack != "prod":
        # dev has no backups to restore; staging keeps the drill off unless data.drills.enabled.
        assert not cron and not stack.objects("ValidatingAdmissionPolicy")
        assert not [d for d in stack.objects("Deployment", DATA_NS) if d["metadata"]["name"] == drills.PUSHGATEWAY]
        assert not DRILL_ALERTS & _alerts(stack)
        return
    (job,) = cron
    assert job["spec"]["schedule"] == "30 4 1 * *"  # the 1st of every month, 04:30 UTC
    assert job["spec"]["concurrencyPolicy"] == "Forbid"
    assert job["spec"]["jobTemplate"]["spec"]["backoffLimit"] == 0  # a failure is reported, not retried
    assert DRILL_ALERTS <= _alerts(stack)


def test_drill_config_errors_name_the_key() -> None:
    from components import config

    raw = yaml.safe_load((ROOT / "Pulumi.dev.yaml").read_text())["config"]
    base = {k.split(":", 1)[1]: v for k, v in raw.items() if k.startswith("saas-platform:")}
    with pytest.raises(config.ConfigError, match=r"data.drills.enabled: a recovery drill restores the backups"):
        parse_config({**base, "data": {"drills": {"enabled": True}}}, "dev")
    with pytest.raises(config.ConfigError, match=r"data.drills.tables.0: 'users; DROP' is not a table"):
        parse_config({**base, "data": {"drills": {"tables": ["users; DROP"]}}}, "dev")
    with pytest.raises(config.ConfigError, match=r"data.drills.schedule: 'monthly' is not a five-field cron"):
        parse_config({**base, "data": {"drills": {"schedule": "monthly"}}}, "dev")
    on = parse_config({**base, "data": {"backups": {"enabled": True}, "drills": {"enabled": True, "tables": ["orders"]}}}, "dev")
    assert on.data.drills is not None and on.data.drills.tables == ["orders"]


# ---- the scratch MariaDB ---------------------------------------------------------------------


def test_scratch_restores_the_latest_physical_backup_of_the_serving_instance(synthesized: dict[str, Synth]) -> None:
    prod = synthesized["prod"]
    scratch = _scratch(prod)
    assert scratch["metadata"]["name"] == drills.SCRATCH
    assert not crd_errors(scratch)
    spec = scratch["spec"]
    # No targetRecoveryTime: the operator picks the backup closest to now (mariadb_types.go).
    assert spec["bootstrapFrom"]["backupRef"] == {"name": "mariadb-physical", "kind": "PhysicalBackup"}
    assert "targetRecoveryTime" not in spec["bootstrapFrom"]
    assert prod.object("PhysicalBackup", "mariadb-physical", DATA_NS)
    # One pod and no replication (validateHA); staged on a volume; the volume goes with it.
    assert spec["replicas"] == 1 and "replication" not in spec
    assert "persistentVolumeClaim" in spec["bootstrapFrom"]["stagingStorage"]
    assert spec["storage"]["pvcRetentionPolicy"] == {"whenDeleted": "Delete", "whenScaled": "Delete"}
    serving = prod.object("MariaDB", "mariadb", DATA_NS)["spec"]
    assert spec["storage"]["size"] == serving["storage"]["size"] and spec["image"] == serving["image"]
    assert spec["rootPasswordSecretKeyRef"] == serving["rootPasswordSecretKeyRef"]


def test_footprint_counts_the_scratch_instance(synthesized: dict[str, Synth]) -> None:
    import json

    prod = synthesized["prod"]
    transient = json.loads((prod.out / "footprint.json").read_text())["transient"]["workloads"]
    (scratch,) = [w for w in transient if w["name"] == drills.SCRATCH]
    assert scratch["pod"]["requests"]["memory_mi"] == 4096  # the medium tier's MariaDB
    assert scratch["storage_gib_per_pod"] == 50 + 60  # its volume + the restore's staging volume


# ---- least privilege -------------------------------------------------------------------------


def test_drill_account_may_touch_only_the_scratch_instance(synthesized: dict[str, Synth]) -> None:
    prod = synthesized["prod"]
    rules = prod.object("Role", drills.DRILL, DATA_NS)["rules"]
    for rule in rules:
        assert "*" not in rule["verbs"] + rule["resources"] + rule["apiGroups"]
        if rule["verbs"] == ["create"]:
            # RBAC cannot restrict create by name (the name is not known at authorization
            # time): the admission policy below pins it.
            assert rule["resources"] == ["mariadbs"] and "resourceNames" not in rule
        else:
            assert set(rule["verbs"]) <= {"get", "delete"}
            assert rule["resourceNames"] in ([drills.SCRATCH], [drills.SCRATCH_CLAIM], [drills.SCRATCH_CA_BUNDLE])
            if rule["resources"] == ["secrets"]:
                # data.tls: only the scratch's CA bundle (certificates, no key), read only.
                assert rule["verbs"] == ["get"] and rule["resourceNames"] == [drills.SCRATCH_CA_BUNDLE]
    binding = prod.object("RoleBinding", drills.DRILL, DATA_NS)
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": drills.DRILL, "namespace": DATA_NS}]
    policy = prod.object("ValidatingAdmissionPolicy", f"{drills.DRILL}-scope")["spec"]
    (condition,) = policy["matchConditions"]
    assert condition["expression"] == f"request.userInfo.username == 'system:serviceaccount:{DATA_NS}:{drills.DRILL}'"
    expressions = [v["expression"] for v in policy["validations"]]
    assert f"object.metadata.name == '{drills.SCRATCH}'" in expressions
    assert policy["failurePolicy"] == "Fail"
    bound = prod.object("ValidatingAdmissionPolicyBinding", f"{drills.DRILL}-scope")["spec"]
    assert bound["policyName"] == f"{drills.DRILL}-scope" and bound["validationActions"] == ["Deny"]
    # Only the drill pod mounts the account's token.
    pods = [c["spec"]["jobTemplate"]["spec"]["template"]["spec"] for c in prod.objects("CronJob", DATA_NS)]
    assert [p for p in pods if p.get("serviceAccountName") == drills.DRILL][0]["automountServiceAccountToken"] is True


# ---- the scripts, run with stand-ins for kubectl and curl --------------------------------------

FAKE_KUBECTL = """#!/bin/sh
echo "kubectl $*" >> "$LOG"
case "$*" in
  *jsonpath*) echo "$READY";;
esac
"""
FAKE_CURL = """#!/bin/sh
echo "curl $*" >> "$LOG"
cat >> "$PUSHED"
"""
# Timing only: the drill polls every 5-10 s (sized for a real restore); the stand-ins answer
# within 0.2 s, so a `sleep` first on the script's PATH waits 0.05 s and the script stays as rendered.
FAKE_SLEEP = """#!/bin/sh
exec /bin/sleep 0.05
"""
STAND_INS = (("kubectl", FAKE_KUBECTL), ("curl", FAKE_CURL), ("sleep", FAKE_SLEEP))


def _run_drill(tmp_path: Path, *, ready: str, verify: str | None, age: int = 1800, budget: int = 600) -> tuple[int, str, str, str]:
    """The rendered drill script with WORK_DIR/CONFIG_DIR in tmp and fake kubectl/curl; a
    background stand-in for the verify container answers once `ready` appears."""
    work, bin_dir = tmp_path / "work", tmp_path / "bin"
    work.mkdir()
    bin_dir.mkdir()
    for name, body in STAND_INS:
        (bin_dir / name).write_text(body)
        (bin_dir / name).chmod(stat.S_IRWXU)
    script = drills.drill_script(DATA_NS, budget, 3600).replace(drills.WORK_DIR, str(work))
    answer = {"ok": f"echo {age} > {work}/age; touch {work}/verified", "fail": f"echo 'table users is empty' > {work}/failed"}
    helper = f"until [ -f {work}/ready ]; do sleep 0.2; done; {answer[verify]}" if verify else "true"
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "LOG": str(tmp_path / "log"),
           "PUSHED": str(tmp_path / "pushed"), "READY": ready, "PUSHGATEWAY_URL": "http://pg:9091"}
    side = subprocess.Popen(["sh", "-c", helper])
    proc = subprocess.run(["sh", "-c", script], env=env, capture_output=True, text=True, timeout=60)
    side.kill()
    log = (tmp_path / "log").read_text() if (tmp_path / "log").exists() else ""
    pushed = (tmp_path / "pushed").read_text() if (tmp_path / "pushed").exists() else ""
    return proc.returncode, proc.stdout + proc.stderr, log, pushed


def _deleted_scratch(log: str) -> bool:
    lines = log.splitlines()
    return (any(re.search(rf"delete mariadb {drills.SCRATCH} .*--wait=false", line) for line in lines)
            and any(f"delete pvc {drills.SCRATCH_CLAIM}" in line and "--wait=false" in line for line in lines))


def test_a_good_drill_reports_success_and_deletes_the_scratch(tmp_path: Path) -> None:
    rc, out, log, pushed = _run_drill(tmp_path, ready="True", verify="ok", age=1800)
    assert rc == 0, out
    assert f"create -f {drills.CONFIG_DIR}/scratch.yaml" in log
    assert _deleted_scratch(log)
    assert "mariadb_drill_success 1" in pushed and "mariadb_drill_data_age_seconds 1800" in pushed
    assert "mariadb_drill_last_success_timestamp_seconds" in pushed
    assert re.search(r"mariadb_drill_restore_seconds \d+", pushed)
    assert "http://pg:9091/metrics/job/mariadb-drill" in log


def test_a_failed_verification_fails_loudly_and_still_cleans_up(tmp_path: Path) -> None:
    rc, out, log, pushed = _run_drill(tmp_path, ready="True", verify="fail")
    assert rc == 1 and "table users is empty" in out
    assert _deleted_scratch(log)
    assert "mariadb_drill_success 0" in pushed
    # A failure keeps the previous success's time (POST replaces only the names pushed).
    assert "last_success" not in pushed


def test_data_older_than_the_rpo_fails_the_drill(tmp_path: Path) -> None:
    rc, out, log, pushed = _run_drill(tmp_path, ready="True", verify="ok", age=7200)
    assert rc == 1 and "more than the RPO" in out
    assert _deleted_scratch(log) and "mariadb_drill_success 0" in pushed


def test_a_scratch_that_never_gets_ready_fails_and_is_deleted(tmp_path: Path) -> None:
    rc, out, log, pushed = _run_drill(tmp_path, ready="False", verify=None, budget=-1)
    assert rc == 1 and "not Ready" in out
    assert _deleted_scratch(log) and "mariadb_drill_success 0" in pushed


def test_verify_script_checks_schema_tables_and_freshness() -> None:
    from components import config

    section = config.DrillsSection(tables=["orders", "users"], freshness={"table": "orders", "column": "created_at"})
    script = drills.verify_script(section)
    assert subprocess.run(["sh", "-n", "-c", script]).returncode == 0
    assert "SCHEMA_NAME='app'" in script
    for table in ("orders", "users"):
        assert f"SELECT COUNT(*) FROM `app`.`{table}`" in script
    assert "MAX(`created_at`), UTC_TIMESTAMP()) FROM `app`.`orders`" in script


# ---- alerts on metrics that exist ------------------------------------------------------------


def test_drill_alerts_read_metrics_the_drill_pushes_or_kube_state_metrics_exposes() -> None:
    from components.monitoring import alerts as alert_rules

    document = alert_rules.alert_rule_files()["drills"]
    text = yaml.safe_dump(document)
    used = set(re.findall(r"\b(mariadb_drill_[a-z_]+|kube_[a-z_]+)\b", text))
    assert used
    for name in used:
        assert catalog_owner(name) in ("mariadb-drill", "kube-state-metrics"), name
        if name.startswith("mariadb_drill_"):
            assert name in drills.METRICS and name in drills.drill_script(DATA_NS, 60, 3600)


# ---- the judges see the drill (mutation tests: break it, expect exit 1) -----------------------


def test_operators_judge_rejects_a_scratch_the_webhook_would_refuse(synthesized: dict[str, Synth], tmp_path: Path) -> None:
    build = copy(synthesized["prod"].out, tmp_path)

    def two_pods(body: dict[str, Any]) -> None:
        scratch = yaml.safe_load(body["data"]["scratch.yaml"])
        scratch["spec"]["replicas"] = 2
        body["data"]["scratch.yaml"] = yaml.safe_dump(scratch)

    edit_manifest(build / "manifests" / DATA_NS / f"ConfigMap-{drills.DRILL}.yaml", two_pods)
    proc = cli("operators", build)
    assert proc.returncode == 1, proc.stdout
    assert any(drills.SCRATCH in line and "validateHA" in line for line in findings_of(proc.stdout, "operators"))


def test_network_judge_needs_prometheus_to_reach_the_pushgateway(synthesized: dict[str, Synth], tmp_path: Path) -> None:
    """The drill's results are only seen if Prometheus may scrape the Pushgateway (the data
    namespace denies ingress by default; the drill's own reach to the API server on 443 is
    already open through the namespace's HTTPS egress, so that policy adds only 6443)."""
    build = copy(synthesized["prod"].out, tmp_path)
    (build / "manifests" / DATA_NS / f"NetworkPolicy-allow-monitoring-to-{drills.PUSHGATEWAY}.yaml").unlink()
    proc = cli("network", build)
    assert proc.returncode == 1, proc.stdout
    assert any("required flow denied" in line and drills.PUSHGATEWAY in line for line in findings_of(proc.stdout, "network"))


# ---- the verification queries against a real MariaDB (Debian's mariadbd, loopback) ------------


@pytest.fixture(scope="module")
def real_mariadb(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    # mariadb-server-core and the mariadb client: scripts/system-deps.sh installs them (a
    # missing one is a failure, never a skip).
    for tool in ("mariadbd", "mariadb-install-db", "mariadb"):
        assert shutil.which(tool), f"{tool} missing: run scripts/system-deps.sh"
    base = tmp_path_factory.mktemp("mariadb")
    server, port, admin = _seeded_mariadbd(base)
    yield base, port, admin
    server.terminate()
    server.wait(timeout=30)


def _verify(real_mariadb: Any, tmp_path: Path, section: Any) -> tuple[int, Path]:
    base, port, _ = real_mariadb
    work = tmp_path / "work"
    work.mkdir()
    (work / "ready").touch()
    script = drills.verify_script(section).replace(drills.WORK_DIR, str(work)).replace(drills.SECRET_DIR, str(base / "secret"))
    env = {**os.environ, "SCRATCH_HOST": "127.0.0.1", "SCRATCH_PORT": str(port)}
    proc = subprocess.run(["sh", "-c", script], env=env, capture_output=True, text=True, timeout=60)
    print(proc.stdout, proc.stderr)  # shown when an assertion fails
    return proc.returncode, work


def test_verification_measures_the_restored_data_age(real_mariadb: Any, tmp_path: Path) -> None:
    from components import config

    rc, work = _verify(real_mariadb, tmp_path, config.DrillsSection())
    assert rc == 0 and (work / "verified").exists()
    assert 1790 <= int((work / "age").read_text()) <= 1900  # the newest users.updated_at: 30 min ago


def test_verification_fails_on_an_empty_or_missing_table(real_mariadb: Any, tmp_path: Path) -> None:
    from components import config

    rc, work = _verify(real_mariadb, tmp_path, config.DrillsSection(tables=["migrations", "orders"]))
    assert rc == 1 and "orders" in (work / "failed").read_text() and not (work / "verified").exists()


# ---- TLS: the scratch requires it where data.tls is on (staging, production) --------------------


@pytest.fixture(scope="module")
def tls_mariadb(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """A mariadbd with `require_secure_transport` and a certificate for `localhost` from a CA of
    its own: what mariadb-operator v26.6.0 renders for `tls.required`
    (internal/controller/mariadb_controller_tls.go) and the CA bundle it keeps."""
    for tool in ("mariadbd", "mariadb-install-db", "mariadb", "openssl"):
        assert shutil.which(tool), f"{tool} missing: run scripts/system-deps.sh"
    base = tmp_path_factory.mktemp("mariadb-tls")

    def ssl(*args: str) -> None:
        subprocess.run(["openssl", *args], check=True, capture_output=True, cwd=base, timeout=60)

    ssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", "ca.key", "-out", "ca.crt",
        "-subj", "/CN=scratch-ca", "-days", "2")
    ssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", "server.key", "-out", "server.csr",
        "-subj", "/CN=localhost")
    (base / "san.cnf").write_text("subjectAltName=DNS:localhost\n")
    ssl("x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial", "-out", "server.crt",
        "-days", "2", "-extfile", "san.cnf")
    # A second CA that did not sign the server: the verifier must refuse it.
    ssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", "other.key", "-out", "other.crt",
        "-subj", "/CN=other-ca", "-days", "2")
    tls = [f"--ssl-ca={base}/ca.crt", f"--ssl-cert={base}/server.crt", f"--ssl-key={base}/server.key",
           "--require-secure-transport=ON"]
    server, port, _admin = _seeded_mariadbd(base, *tls)
    yield base, port
    server.terminate()
    server.wait(timeout=30)


def _verify_tls(tls_mariadb: Any, tmp_path: Path, ca: str, tls: bool, extra: str = "") -> tuple[int, Path, str]:
    base, port = tls_mariadb
    work = tmp_path / "work"
    work.mkdir(parents=True)
    (work / "ready").touch()
    shutil.copy(base / ca, work / "ca.crt")  # what the drill container copies from <scratch>-ca-bundle
    from components import config

    script = (drills.verify_script(config.DrillsSection(), tls)
              .replace(drills.WORK_DIR, str(work)).replace(drills.SECRET_DIR, str(base / "secret"))
              .replace("--skip-column-names", "--skip-column-names" + extra))
    env = {**os.environ, "SCRATCH_HOST": "localhost", "SCRATCH_PORT": str(port)}
    proc = subprocess.run(["sh", "-c", script], env=env, capture_output=True, text=True, timeout=60)
    return proc.returncode, work, proc.stdout + proc.stderr


def test_verification_over_tls_checks_the_scratch_certificate(tls_mariadb: Any, tmp_path: Path) -> None:
    """With TLS the verifier connects over TCP with TLS and verifies the server against the CA
    bundle (and the name it dials); a plain client is refused by require_secure_transport and a
    bundle of another CA is refused by the client."""
    rc, work, out = _verify_tls(tls_mariadb, tmp_path / "ok", "ca.crt", tls=True)
    assert rc == 0 and (work / "verified").exists(), out
    # The stand-in is as strict as the scratch: a client without TLS is refused. (This client
    # library tries TLS unasked, so the stand-in forces it off to show the server's side.)
    rc, work, out = _verify_tls(tls_mariadb, tmp_path / "plain", "ca.crt", tls=False, extra=" --skip-ssl")
    assert rc == 1 and not (work / "verified").exists(), out
    rc, work, out = _verify_tls(tls_mariadb, tmp_path / "other", "other.crt", tls=True)
    assert rc == 1 and not (work / "verified").exists()


def test_tls_drill_hands_the_ca_bundle_to_the_verifier(tmp_path: Path) -> None:
    """The drill container copies `<scratch>-ca-bundle` key `ca.crt` (mariadb-operator v26.6.0
    api/v1alpha1/mariadb_keys.go TLSCABundleSecretKeyRef) to the shared volume before the
    verifier starts, and fails (cleaning up) when the bundle is empty."""
    work, bin_dir = tmp_path / "work", tmp_path / "bin"
    work.mkdir()
    bin_dir.mkdir()
    fake = FAKE_KUBECTL.replace("case \"$*\" in\n", "case \"$*\" in\n  *\"get secret\"*) printf %s \"$CA_B64\";;\n")
    for name, body in (("kubectl", fake), *STAND_INS[1:]):
        (bin_dir / name).write_text(body)
        (bin_dir / name).chmod(stat.S_IRWXU)
    script = drills.drill_script(DATA_NS, 600, 3600, tls=True).replace(drills.WORK_DIR, str(work))
    helper = f"until [ -f {work}/ready ]; do sleep 0.2; done; cp {work}/ca.crt {tmp_path}/seen; echo 60 > {work}/age; touch {work}/verified"
    import base64

    for ca, expected in (("-----BEGIN CERTIFICATE-----\n", 0), ("", 1)):
        for leftover in ("ready", "verified", "failed", "age", "ca.crt", "done"):
            (work / leftover).unlink(missing_ok=True)
        env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "LOG": str(tmp_path / "log"), "PUSHED": str(tmp_path / "pushed"),
               "READY": "True", "PUSHGATEWAY_URL": "http://pg:9091", "CA_B64": base64.b64encode(ca.encode()).decode()}
        side = subprocess.Popen(["sh", "-c", helper])
        proc = subprocess.run(["sh", "-c", script], env=env, capture_output=True, text=True, timeout=60)
        side.kill()
        assert proc.returncode == expected, proc.stdout + proc.stderr
        log = (tmp_path / "log").read_text()
        assert f"get secret {drills.SCRATCH_CA_BUNDLE}" in log and _deleted_scratch(log)
    assert (tmp_path / "seen").read_text() == "-----BEGIN CERTIFICATE-----\n"


def _seeded_mariadbd(base: Path, *flags: str) -> tuple[subprocess.Popen[bytes], int, list[str]]:
    """A mariadbd on a free loopback port with the drill's verification schema (an `app`
    database with `migrations` and `users`, the newest user 30 min old), root's password `pw`
    in `base/secret/root-password` (the mounted Secret); `flags` are extra server options."""
    import time

    port = free_port()
    subprocess.run(["mariadb-install-db", "--no-defaults", f"--datadir={base}/data", "--auth-root-authentication-method=normal",
                    "--user=root"], check=True, capture_output=True, timeout=120)
    server = subprocess.Popen(["mariadbd", "--no-defaults", f"--datadir={base}/data", f"--port={port}", "--bind-address=127.0.0.1",
                               f"--socket={base}/sock", "--user=root", "--skip-log-bin", "--skip-name-resolve", *flags],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    admin = ["mariadb", f"--socket={base}/sock", "-uroot"]
    deadline = time.monotonic() + 30
    while subprocess.run([*admin, "-e", "SELECT 1"], capture_output=True).returncode != 0:
        assert time.monotonic() < deadline, "mariadbd did not start"
        time.sleep(0.3)
    subprocess.run([*admin, "-e", "ALTER USER root@'127.0.0.1' IDENTIFIED BY 'pw'; CREATE DATABASE app; "
                    "CREATE TABLE app.migrations (id INT); INSERT INTO app.migrations VALUES (1); "
                    "CREATE TABLE app.users (id INT, updated_at TIMESTAMP NULL); "
                    "INSERT INTO app.users VALUES (1, UTC_TIMESTAMP() - INTERVAL 30 MINUTE)"], check=True)
    (base / "secret").mkdir()
    (base / "secret" / "root-password").write_text("pw\n")
    return server, port, admin
