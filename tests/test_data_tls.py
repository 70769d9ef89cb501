"""Encryption in transit to the data stores (`data.tls`, components/data/tls.py): off in dev, on in
staging and production, with the application configured to verify every store.

Upstream behaviour encoded here (pinned tags):
- mariadb-operator v26.6.0: `spec.tls.required` renders `require_secure_transport` only with
  `enabled` (api/v1alpha1/mariadb_types.go IsTLSRequired; internal/controller/mariadb_controller_tls.go);
  the webhook's validateTLSCert (internal/webhook/v1alpha1/webhook.go).
- redis-operator v0.26.0: REDIS_TLS_CA_CERT only when `spec.TLS.ca` is set
  (internal/k8sutils/statefulset.go GenerateTLSEnvironmentVariables); the Sentinel image configures
  no TLS itself (OT-CONTAINER-KIT/redis entrypoint-sentinel.sh).
- RabbitMQ cluster-operator v2.22.3: AMQPS 5671 with `spec.tls.secretName`; the client Service
  offers `prometheus-tls` instead of `prometheus` (internal/resource/service.go);
  disableNonTLSListeners needs TLS (internal/controller/reconcile_tls.go).
- kedacore/keda v2.20 pkg/scalers/rabbitmq_scaler.go reads `tls` from authentication parameters only.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from components.data import tls, tls_reload
from components.data.redis import render_redis_conf
from rehearsal.ports import free_port
from tests.conftest import Synth, parse_config
from tests.pristine import verdict_and_cli
from tests.rehearsal_helpers import copy, edit_manifest, has, verdict
from tests.test_config import values

DATA, APP, CM = "saas-data", "saas-app", "saas-cert-manager"


def on(stack: Synth) -> bool:
    return stack.stack != "dev"


# ---- config -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("environment", "stack", "expected"), [("development", "dev", False), ("staging", "staging", True), ("production", "prod", True)])
def test_default_is_on_outside_development(environment: str, stack: str, expected: bool) -> None:
    raw = values(environment=environment)
    if environment == "development":
        raw["edge"] = {"dns": "none"}
    if environment == "production":
        # Production with s3 replicates to a second region (issue 21 item 2): name one.
        raw["objectStorage"] = {"engine": "s3", "bucketPrefix": "example-com", "replicaRegion": "eu-central-1"}
    assert tls.enabled(parse_config(raw, stack)) is expected


def test_staging_may_turn_it_off_production_may_not() -> None:
    from components import config

    assert tls.enabled(parse_config(values(data={"tls": {"enabled": False}}), "staging")) is False
    raw = values(environment="production", objectStorage={"engine": "s3", "bucketPrefix": "example-com", "replicaRegion": "eu-central-1"},
                 data={"tls": {"enabled": False}})
    with pytest.raises(config.ConfigError) as excinfo:
        parse_config(raw, "prod")
    assert any("data.tls.enabled" in p and "production" in p for p in excinfo.value.problems), excinfo.value.problems


def test_a_bad_value_names_the_key() -> None:
    from components import config

    with pytest.raises(config.ConfigError) as excinfo:
        parse_config(values(data={"tls": {"enabled": "sometimes"}}), "staging")
    assert any("data.tls.enabled" in p for p in excinfo.value.problems), excinfo.value.problems
    with pytest.raises(config.ConfigError) as excinfo:
        parse_config(values(data={"tls": {"enable": True}}), "staging")
    assert any("data.tls.enable" in p and "unknown key" in p for p in excinfo.value.problems), excinfo.value.problems


# ---- the certificate chain ----------------------------------------------------------------------


def test_chain_from_a_self_signed_bootstrap_to_the_stores(stack: Synth) -> None:
    certificates = {(c["metadata"]["namespace"], c["metadata"]["name"]) for c in stack.objects("Certificate")}
    ours = {(CM, "data-root-ca"), (DATA, "redis-tls"), (DATA, "rabbitmq-tls"), (APP, "data-ca-trust")}
    if not on(stack):
        assert not ours & certificates
        assert not [i for i in stack.objects("ClusterIssuer") if i["metadata"]["name"] == tls.ISSUER]
        return
    assert ours <= certificates
    bootstrap = stack.object("Issuer", tls.BOOTSTRAP_ISSUER, CM)
    assert bootstrap["spec"] == {"selfSigned": {}}
    root = stack.object("Certificate", "data-root-ca", CM)["spec"]
    assert root["isCA"] is True and root["issuerRef"]["name"] == tls.BOOTSTRAP_ISSUER and root["issuerRef"]["kind"] == "Issuer"
    # mariadb-operator rolls the instances when a CA it trusts is renewed (docs/tls.md "CA renewal").
    assert root["secretTemplate"]["labels"] == {"k8s.mariadb.com/watch": ""}
    issuer = stack.object("ClusterIssuer", tls.ISSUER)
    assert issuer["spec"] == {"ca": {"secretName": "data-root-ca"}}
    for ns, name in ours - {(CM, "data-root-ca")}:
        spec = stack.object("Certificate", name, ns)["spec"]
        assert spec["issuerRef"] == {"name": tls.ISSUER, "kind": "ClusterIssuer", "group": "cert-manager.io"}
        assert spec["privateKey"]["rotationPolicy"] == "Always" and spec["renewBefore"] == "720h"


def _settings(stack: Synth) -> dict[str, str]:
    return stack.object("ConfigMap", "backend-config", APP)["data"]


def test_server_certificates_name_every_host_the_clients_dial(stack: Synth) -> None:
    if not on(stack):
        return
    settings = _settings(stack)
    redis = set(stack.object("Certificate", "redis-tls", DATA)["spec"]["dnsNames"])
    # The app's Sentinel and master hosts, the peer name it checks a Sentinel-reported master
    # against, and the pod names the operator dials with TLS (getRedisReplicationHostname).
    assert {settings["REDIS_SENTINEL_HOST"], settings["REDIS_HOST"], settings["REDIS_TLS_PEER_NAME"]} <= redis
    assert f"*.redis-headless.{DATA}.svc.cluster.local" in redis and f"*.redis-sentinel-headless.{DATA}.svc.cluster.local" in redis
    rabbit = set(stack.object("Certificate", "rabbitmq-tls", DATA)["spec"]["dnsNames"])
    assert settings["RABBITMQ_HOST"] in rabbit


# ---- the stores ---------------------------------------------------------------------------------


def test_mariadb_requires_tls_with_certificates_from_the_data_ca(stack: Synth) -> None:
    spec = stack.object("MariaDB", "mariadb", DATA)["spec"]
    if not on(stack):
        assert "tls" not in spec
        return
    assert spec["tls"]["enabled"] is True and spec["tls"]["required"] is True
    assert spec["tls"]["serverCertIssuerRef"]["name"] == spec["tls"]["clientCertIssuerRef"]["name"] == tls.ISSUER
    # The binlog flush job speaks TLS to the primary and verifies it with the operator's bundle.
    flush = stack.object("CronJob", "mariadb-flush-binlogs", DATA)["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    script = flush["containers"][0]["command"][-1]
    assert "--ssl-verify-server-cert" in script and "--ssl-ca=" in script
    assert {"name": "ca-bundle", "secret": {"secretName": "mariadb-ca-bundle", "defaultMode": 0o444}} in flush["volumes"]


def test_redis_and_sentinel_listen_with_tls(stack: Synth) -> None:
    replication = stack.object("RedisReplication", "redis", DATA)["spec"]
    sentinel = stack.object("RedisSentinel", "redis", DATA)["spec"]
    if not on(stack):
        assert "TLS" not in replication and "TLS" not in sentinel
        assert "tls-replication" not in stack.object("ConfigMap", "redis-config", DATA)["data"]["redis-additional.conf"]
        return
    for spec in (replication, sentinel):
        assert spec["TLS"] == {"ca": "ca.crt", "cert": "tls.crt", "key": "tls.key", "secret": {"secretName": "redis-tls"}}
    assert "tls-replication yes" in stack.object("ConfigMap", "redis-config", DATA)["data"]["redis-additional.conf"]
    config_map = sentinel["redisSentinelConfig"]["additionalSentinelConfig"]
    assert "tls-port 26379" in stack.object("ConfigMap", config_map, DATA)["data"]["redis-sentinel-additional.conf"]
    # Rotation: Redis rereads its files on CONFIG SET, each Sentinel is restarted in turn.
    job = stack.object("CronJob", tls_reload.RELOADER_NAME, DATA)["spec"]
    script = job["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]["command"][-1]
    assert "CONFIG SET tls-cert-file" in script and "SHUTDOWN" in script and "seq 0 2" in script
    _assert_password_is_a_read_only_file(job, stack.object("RedisReplication", "redis", DATA)["spec"])


def _assert_password_is_a_read_only_file(job: dict, replication: dict) -> None:
    """The reload Job reads the Redis password from the Secret the RedisReplication uses,
    mounted read-only as a file, never from an environment variable (Checkov CKV_K8S_35);
    the script exports it to redis-cli as REDISCLI_AUTH before the first call."""
    pod = job["jobTemplate"]["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert not any("secretKeyRef" in (e.get("valueFrom") or {}) for e in container.get("env") or [])
    wanted = replication["kubernetesConfig"]["redisSecret"]
    volume = next(v for v in pod["volumes"] if (v.get("secret") or {}).get("secretName") == wanted["name"])
    assert {"key": wanted["key"], "path": "password"} in volume["secret"]["items"]
    assert volume["secret"]["defaultMode"] & 0o007 == 0  # not world-readable
    # A high UID (Checkov CKV_K8S_40) that owns the mounted Secret through the fsGroup.
    assert container["securityContext"]["runAsUser"] == pod["securityContext"]["fsGroup"] >= 10000
    mount = next(m for m in container["volumeMounts"] if m["name"] == volume["name"])
    assert mount["readOnly"] is True and mount["mountPath"] == tls_reload.AUTH_DIR
    script = container["command"][-1]
    read = script.index(f'REDISCLI_AUTH="$(cat {tls_reload.AUTH_FILE})"')
    assert script.index("export REDISCLI_AUTH") > read and script.index("redis-cli") > read


def test_rabbitmq_offers_amqps_and_the_app_reaches_only_that(stack: Synth) -> None:
    spec = stack.object("RabbitmqCluster", "rabbitmq", DATA)["spec"]
    settings = _settings(stack)
    allow_app = stack.object("NetworkPolicy", "allow-app", DATA)["spec"]["ingress"][0]["ports"]
    ports = {p["port"] for p in allow_app}
    if not on(stack):
        assert "tls" not in spec and settings["RABBITMQ_PORT"] == "5672" and 5672 in ports and 5671 not in ports
        return
    assert spec["tls"] == {"secretName": "rabbitmq-tls", "disableNonTLSListeners": False}
    assert settings["RABBITMQ_PORT"] == "5671"
    assert 5671 in ports and 5672 not in ports


# ---- the application ----------------------------------------------------------------------------


def test_the_app_verifies_every_store_with_the_mounted_ca(stack: Synth) -> None:
    settings = _settings(stack)
    keys = ("MYSQL_ATTR_SSL_CA", "REDIS_SCHEME", "REDIS_TLS_CA", "REDIS_TLS_PEER_NAME", "RABBITMQ_SSL_CAFILE", "RABBITMQ_SSL_VERIFY_PEER")
    deployments = [d for d in stack.objects("Deployment", APP) if d["metadata"]["name"].startswith("backend-")]
    if not on(stack):
        assert not set(keys) & set(settings)
        return
    assert settings["MYSQL_ATTR_SSL_CA"] == settings["REDIS_TLS_CA"] == settings["RABBITMQ_SSL_CAFILE"] == tls.CA_FILE
    assert settings["REDIS_SCHEME"] == "tls" and settings["RABBITMQ_SSL_VERIFY_PEER"] == "true"
    assert deployments
    for deployment in deployments:
        pod = deployment["spec"]["template"]["spec"]
        volume = next(v for v in pod["volumes"] if v["name"] == tls.CA_VOLUME)
        # Only ca.crt: the trust Certificate's own key stays out of the pods.
        assert volume["secret"]["items"] == [{"key": "ca.crt", "path": "ca.crt"}]
        for container in pod["containers"]:
            if any(s.get("configMapRef", {}).get("name") == "backend-config" for s in container.get("envFrom") or []):
                mount = next(m for m in container["volumeMounts"] if m["name"] == tls.CA_VOLUME)
                assert mount["readOnly"] is True and mount["mountPath"] == tls.CA_DIR


def test_keda_scalers_speak_tls(stack: Synth) -> None:
    auth = stack.object("TriggerAuthentication", "backend-rabbitmq", APP)["spec"]
    triggers = stack.object("ScaledObject", "backend-worker", APP)["spec"]["triggers"]
    if not on(stack):
        assert "configMapTargetRef" not in auth and "enableTLS" not in triggers[0]["metadata"]
        return
    assert {"parameter": "ca", "name": tls.TRUST_SECRET, "key": "ca.crt"} in auth["secretTargetRef"]
    assert auth["configMapTargetRef"] == [{"parameter": "tls", "name": "backend-config", "key": tls.KEDA_RABBITMQ_TLS_KEY}]
    assert _settings(stack)[tls.KEDA_RABBITMQ_TLS_KEY] == "enable"
    assert all(t["metadata"]["enableTLS"] == "true" for t in triggers)


# ---- the Redis and Sentinel TLS lines under the real redis-server / redis-sentinel ------------------



def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=30)


@pytest.fixture
def pki(tmp_path: Path) -> Path:
    for tool in ("redis-server", "redis-sentinel", "redis-cli", "openssl"):
        assert shutil.which(tool), f"{tool} missing: run scripts/system-deps.sh"
    _openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", "ca.key",
             "-out", "ca.crt", "-days", "1", "-subj", "/CN=ca", cwd=tmp_path)
    _openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", "tls.key",
             "-out", "tls.csr", "-subj", "/CN=redis", cwd=tmp_path)
    _openssl("x509", "-req", "-in", "tls.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial", "-out", "tls.crt",
             "-days", "1", cwd=tmp_path)
    return tmp_path


def _entrypoint_lines(pki: Path, port: int) -> str:
    """What the image's entrypoint writes with TLS_MODE (OT-CONTAINER-KIT/redis entrypoint.sh
    tls_setup: the CA from a variable the operator does not set, so empty)."""
    return (f"port 0\ntls-port {port}\ntls-cert-file {pki}/tls.crt\ntls-key-file {pki}/tls.key\n"
            "tls-auth-clients optional\nbind 127.0.0.1\nsave \"\"\nappendonly no\n")


def _cli(pki: Path, port: int, *command: str) -> str:
    return subprocess.run(["redis-cli", "--tls", "--cacert", f"{pki}/ca.crt", "-p", str(port), *command],
                          capture_output=True, text=True, timeout=10, check=False).stdout.strip()


def test_replication_and_sentinel_work_over_tls_with_the_rendered_lines(pki: Path) -> None:
    """The rendered lines (their /tls paths pointed at this test's files) on top of what the
    image's entrypoint writes: a replica syncs from the master over TLS, Sentinel answers only
    over TLS and monitors the master over TLS."""
    master, replica, sentinel = free_port(), free_port(), free_port()
    extra = tls.redis_tls_conf().replace("/tls/", f"{pki}/")
    processes = []
    try:
        # Timing only: the master waits repl-diskless-sync-delay (5 s) for more replicas before a
        # full sync; with one replica there is nothing to wait for.
        for name, port, more in (("master", master, "repl-diskless-sync-delay 0\n"),
                                 ("replica", replica, f"replicaof 127.0.0.1 {master}\n")):
            conf = pki / f"{name}.conf"
            conf.write_text(_entrypoint_lines(pki, port) + f"dir {pki}\ndbfilename {name}.rdb\n" + more + extra)
            processes.append(subprocess.Popen(["redis-server", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and "master_link_status:up" not in _cli(pki, replica, "INFO", "replication"):
            time.sleep(0.1)
        assert "master_link_status:up" in _cli(pki, replica, "INFO", "replication")
        assert _cli(pki, master, "SET", "k", "v") == "OK"
        # Replication is asynchronous: wait for the write to reach the replica (a loaded CI
        # machine takes more than a fixed pause).
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and _cli(pki, replica, "GET", "k") != "v":
            time.sleep(0.1)
        assert _cli(pki, replica, "GET", "k") == "v"
        # Sentinel starts once the replica is linked: its first INFO of the master then lists the
        # replica (otherwise it learns of it at the next INFO, 10 s later).
        sentinel_conf = pki / "sentinel.conf"
        sentinel_conf.write_text(
            f"bind 127.0.0.1\nsentinel monitor mymaster 127.0.0.1 {master} 1\n"
            + tls.sentinel_tls_conf().replace("/tls/", f"{pki}/").replace("tls-port 26379", f"tls-port {sentinel}")
        )
        processes.append(subprocess.Popen(["redis-sentinel", str(sentinel_conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and "slave" not in _cli(pki, sentinel, "SENTINEL", "replicas", "mymaster"):
            time.sleep(0.2)
        assert _cli(pki, sentinel, "SENTINEL", "get-master-addr-by-name", "mymaster").split() == ["127.0.0.1", str(master)]
        # Plain TCP is refused on the Sentinel port (`port 0`, only the TLS listener).
        plain = subprocess.run(["redis-cli", "-p", str(sentinel), "PING"], capture_output=True, text=True, timeout=10, check=False)
        assert "PONG" not in plain.stdout
    finally:
        for process in processes:
            process.terminate()
            process.wait(timeout=10)


def test_rendered_redis_conf_has_tls_only_where_enabled() -> None:
    dev = parse_config(values(environment="development", edge={"dns": "none"}), "dev")
    staging = parse_config(values(), "staging")
    assert "tls-replication" not in render_redis_conf(dev)
    assert "tls-replication yes" in render_redis_conf(staging)


# ---- the judges see it -----------------------------------------------------------------------------


@pytest.fixture
def prod_copy(synthesized: dict[str, Synth], tmp_path: Path) -> Path:
    assert synthesized["prod"].returncode == 0, synthesized["prod"].stderr
    return copy(synthesized["prod"].out, tmp_path)


def test_network_judge_requires_amqps_and_forbids_plain_amqp(prod_copy: Path) -> None:
    """Opening 5672 instead of 5671 for the app: the app's flow to AMQPS is denied and plain
    AMQP from the app is allowed though nothing should use it."""
    def plain(body: dict[str, Any]) -> None:
        for rule in body["spec"]["ingress"]:
            for port in rule.get("ports") or []:
                if port["port"] == 5671:
                    port["port"] = 5672

    for name in ("NetworkPolicy-allow-app.yaml", "NetworkPolicy-rabbitmq-allow-ingress.yaml"):
        edit_manifest(prod_copy / "manifests" / DATA / name, plain)
    result, from_cli = verdict_and_cli("network", prod_copy)
    assert result.exit_code == 1
    assert has(result.findings, "saas-app/backend-worker-rabbitmq -> saas-data/rabbitmq-server:5671")
    assert from_cli.returncode == 1


def test_operators_judge_mutation_redis_tls_without_ca(prod_copy: Path) -> None:
    edit_manifest(prod_copy / "manifests" / DATA / "RedisReplication-redis.yaml", lambda b: b["spec"]["TLS"].pop("ca"))
    result = verdict("operators", prod_copy)
    assert result.exit_code == 1
    assert has(result.findings, "RedisReplication saas-data/redis: spec.TLS without `ca`", "GenerateTLSEnvironmentVariables")


def test_operators_judge_mutation_sentinel_tls_without_its_config(prod_copy: Path) -> None:
    edit_manifest(prod_copy / "manifests" / DATA / "RedisSentinel-redis.yaml",
                  lambda b: b["spec"]["redisSentinelConfig"].pop("additionalSentinelConfig"))
    assert has(verdict("operators", prod_copy).findings, "RedisSentinel saas-data/redis: spec.TLS without redisSentinelConfig.additionalSentinelConfig")


def test_operators_judge_mutation_mariadb_required_without_enabled(prod_copy: Path) -> None:
    def half(body: dict[str, Any]) -> None:
        body["spec"]["tls"]["enabled"] = False

    edit_manifest(prod_copy / "manifests" / DATA / "MariaDB-mariadb.yaml", half)
    assert has(verdict("operators", prod_copy).findings, "MariaDB saas-data/mariadb: spec.tls.required without spec.tls.enabled")


def test_operators_judge_mutation_mariadb_cert_secret_and_issuer(prod_copy: Path) -> None:
    def both(body: dict[str, Any]) -> None:
        body["spec"]["tls"]["serverCertSecretRef"] = {"name": "mine"}

    edit_manifest(prod_copy / "manifests" / DATA / "MariaDB-mariadb.yaml", both)
    findings = verdict("operators", prod_copy).findings
    assert has(findings, "webhook rejects it: spec.tls.serverCertSecretRef and spec.tls.serverCertIssuerRef are mutually exclusive")
    assert has(findings, "webhook rejects it: spec.tls.serverCASecretRef must be set")


def test_operators_judge_rabbitmq_service_moves_its_metrics_port(prod_copy: Path) -> None:
    """A ServiceMonitor on `prometheus` would select nothing once TLS is on: the judge reports it."""
    monitor = prod_copy / "manifests" / DATA / "PodMonitor-rabbitmq.yaml"
    body = monitor.read_text().replace("kind: PodMonitor", "kind: ServiceMonitor").replace("podMetricsEndpoints", "endpoints")
    monitor.unlink()
    (prod_copy / "manifests" / DATA / "ServiceMonitor-rabbitmq.yaml").write_text(body)
    assert has(verdict("operators", prod_copy).findings, "ServiceMonitor saas-data/rabbitmq: selects no Service/pod port")


def test_operators_judge_mutation_disable_non_tls_without_secret(prod_copy: Path) -> None:
    def broken(body: dict[str, Any]) -> None:
        body["spec"]["tls"] = {"disableNonTLSListeners": True}

    edit_manifest(prod_copy / "manifests" / DATA / "RabbitmqCluster-rabbitmq.yaml", broken)
    assert has(verdict("operators", prod_copy).findings, "spec.tls.disableNonTLSListeners without spec.tls.secretName", "reconcile_tls.go")


def test_operators_judge_mutation_maxscale_tls_without_server_trust(prod_copy: Path) -> None:
    """MaxScale (medium tier, prod) lists its servers, so nothing defaults its server CA bundle."""
    path = prod_copy / "manifests" / DATA / "MaxScale-mariadb-maxscale.yaml"
    assert path.exists(), "prod runs MaxScale (medium tier)"
    edit_manifest(path, lambda b: b["spec"]["tls"].pop("serverCASecretRef"))
    result = verdict("operators", prod_copy)
    assert result.exit_code == 1
    assert has(result.findings, "MaxScale saas-data/mariadb-maxscale: spec.tls.serverCASecretRef is not set", "MaxScaleTLS.SetDefaults")


def test_maxscale_speaks_tls_to_clients_and_servers(stack: Synth) -> None:
    maxscales = stack.objects("MaxScale", DATA)
    for mxs in maxscales:
        spec = mxs["spec"]
        if not on(stack):
            assert "tls" not in spec
            continue
        assert spec["tls"]["listenerCertIssuerRef"]["name"] == tls.ISSUER
        assert spec["tls"]["serverCASecretRef"] == {"name": "mariadb-ca-bundle"}
        assert spec["tls"]["verifyPeerCertificate"] is True and spec["tls"]["verifyPeerHost"] is True


def test_apps_judge_mutation_a_ca_setting_naming_no_file(prod_copy: Path) -> None:
    """The apps judge plays the backend pod with the CA Secret cert-manager would write
    (rehearsal/certs.py); a CA setting that names a file the container does not have is reported."""
    from rehearsal.apps import judge
    from rehearsal.base import Build

    edit_manifest(prod_copy / "manifests" / APP / "ConfigMap-backend-config.yaml",
                  lambda b: b["data"].update(MYSQL_ATTR_SSL_CA=f"{tls.CA_DIR}/missing.crt"))
    result = judge(Build(prod_copy))
    assert result.exit_code == 1
    assert any("MYSQL_ATTR_SSL_CA=" in f and "is not a readable CA certificate" in f for f in result.findings), result.findings
    assert "data TLS settings 2/3" in result.summary


# ---- the stores other branches added: the cache's Redis, the cache cluster, the drill ---------------


def test_the_cache_store_is_tls_like_the_durable_one(stack: Synth) -> None:
    """`redis-cache` (components/data/redis_cache.py) is built with the same replication_spec:
    TLS-only where `data.tls` is on, so its Sentinel, certificate names, conf, rotation and the
    app's `cache` connection must be TLS as well (redis-operator v0.26.0 statefulset.go
    GenerateTLSEnvironmentVariables; OT-CONTAINER-KIT/redis entrypoint.sh / entrypoint-sentinel.sh)."""
    settings = _settings(stack)
    if not on(stack):
        # dev keeps the cache on the durable store, without TLS.
        assert "REDIS_CACHE_TLS_PEER_NAME" not in settings and not stack.objects("RedisReplication", DATA)[1:]
        return
    replication = stack.object("RedisReplication", "redis-cache", DATA)["spec"]
    sentinel = stack.object("RedisSentinel", "redis-cache", DATA)["spec"]
    conf = stack.object("ConfigMap", "redis-cache-config", DATA)["data"]["redis-cache.conf"]
    assert replication["TLS"] == sentinel["TLS"] == tls.redis_tls_spec()
    sentinel_conf = stack.object("ConfigMap", sentinel["redisSentinelConfig"]["additionalSentinelConfig"], DATA)["data"]
    assert "tls-port 26379" in sentinel_conf["redis-sentinel-additional.conf"]
    assert f"tls-replication yes\ntls-ca-cert-file /tls/{tls.CA_KEY}" in conf
    names = set(stack.object("Certificate", "redis-tls", DATA)["spec"]["dnsNames"])
    assert {settings["REDIS_CACHE_SENTINEL_HOST"], settings["REDIS_CACHE_HOST"], settings["REDIS_CACHE_TLS_PEER_NAME"]} <= names
    assert settings["REDIS_CACHE_TLS_PEER_NAME"] == f"redis-cache-master.{DATA}.svc.cluster.local"
    assert f"*.redis-cache-headless.{DATA}.svc.cluster.local" in names
    assert f"*.redis-cache-sentinel-headless.{DATA}.svc.cluster.local" in names
    job = stack.object("CronJob", tls_reload.reloader_name("redis-cache"), DATA)["spec"]
    script = job["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]["command"][-1]
    assert "host=redis-cache-$i.redis-cache-headless" in script and "host=redis-cache-sentinel-$i.redis-cache-sentinel-headless" in script
    _assert_password_is_a_read_only_file(job, replication)


def test_drill_verifies_the_scratch_with_its_ca_bundle(stack: Synth) -> None:
    """The scratch MariaDB requires TLS like the serving one; the verifier speaks TLS and checks
    the server against `<scratch>-ca-bundle` key `ca.crt` (mariadb-operator v26.6.0
    api/v1alpha1/mariadb_keys.go TLSCABundleSecretKeyRef), which the drill may read and nothing else."""
    from components.data import drills

    if stack.stack != "prod":
        return
    cron = stack.object("CronJob", drills.DRILL, DATA)["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    drill, verify = cron["containers"]
    assert "--ssl --ssl-verify-server-cert --ssl-ca=/work/ca.crt" in verify["command"][-1]
    assert "get secret mariadb-drill-scratch-ca-bundle" in drill["command"][-1]
    scratch = yaml.safe_load(stack.object("ConfigMap", drills.DRILL, DATA)["data"]["scratch.yaml"])
    assert scratch["spec"]["tls"] == tls.mariadb_tls_spec()
    rules = stack.object("Role", drills.DRILL, DATA)["rules"]
    assert {"apiGroups": [""], "resources": ["secrets"], "resourceNames": ["mariadb-drill-scratch-ca-bundle"], "verbs": ["get"]} in rules


def test_operators_judge_mutation_plain_sentinel_watching_a_tls_replication(prod_copy: Path) -> None:
    def plain(body: dict[str, Any]) -> None:
        body["spec"].pop("TLS")
        body["spec"]["redisSentinelConfig"].pop("additionalSentinelConfig")

    edit_manifest(prod_copy / "manifests" / DATA / "RedisSentinel-redis-cache.yaml", plain)
    result, from_cli = verdict_and_cli("operators", prod_copy)
    assert result.exit_code == 1
    assert has(result.findings, "RedisSentinel saas-data/redis-cache", "Sentinel without spec.TLS watches RedisReplication saas-data/redis-cache")
    assert from_cli.returncode == 1


def test_operators_judge_mutation_certificate_missing_a_stores_hosts(prod_copy: Path) -> None:
    def durable_only(body: dict[str, Any]) -> None:
        body["spec"]["dnsNames"] = [n for n in body["spec"]["dnsNames"] if "redis-cache" not in n]

    edit_manifest(prod_copy / "manifests" / DATA / "Certificate-redis-tls.yaml", durable_only)
    result = verdict("operators", prod_copy)
    assert result.exit_code == 1
    assert has(result.findings, "RedisReplication saas-data/redis-cache: Certificate saas-data/redis-tls", "redis-cache-master.saas-data.svc")
    assert has(result.findings, "RedisSentinel saas-data/redis-cache", "*.redis-cache-sentinel-headless.saas-data.svc")


def test_operators_judge_mutation_tls_store_without_certificate(prod_copy: Path) -> None:
    edit_manifest(prod_copy / "manifests" / DATA / "RedisReplication-redis-cache.yaml",
                  lambda b: b["spec"]["TLS"]["secret"].update(secretName="redis-cache-tls"))
    assert has(verdict("operators", prod_copy).findings, "RedisReplication saas-data/redis-cache: spec.TLS names Secret redis-cache-tls")


@pytest.mark.parametrize(("manifest", "container"), [("CronJob-mariadb-drill.yaml", 1), ("CronJob-mariadb-flush-binlogs.yaml", 0)])
def test_operators_judge_mutation_sql_client_without_tls(prod_copy: Path, manifest: str, container: int) -> None:
    def plain(body: dict[str, Any]) -> None:
        command = body["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][container]["command"]
        command[-1] = command[-1].replace("--ssl-verify-server-cert", "")

    edit_manifest(prod_copy / "manifests" / DATA / manifest, plain)
    result = verdict("operators", prod_copy)
    assert result.exit_code == 1
    assert has(result.findings, f"CronJob saas-data/{manifest.split('-', 1)[1][:-5]}", "runs an SQL client against MariaDB saas-data/", "requires TLS")
