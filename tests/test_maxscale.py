"""MaxScale in front of the replicated MariaDB (issue 21 item 3): medium and large tiers get one
database host with read/write split, a connection pool and failover by MaxScale; dev and small
stay direct. Upstream behaviour encoded here is cited at mariadb-operator v26.6.0 and MaxScale
23.08.5 (components/data/maxscale.py names the files)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from components.config import ConfigError
from components.data import maxscale
from components.data.mariadb_base import app_connection_demand
from components.data.mariadb_spec import mariadb_spec
from tests.conftest import ROOT, Synth, parse_config
from tests.large_tier import large_tier
from tests.rehearsal_helpers import cli, copy, edit_manifest, has, verdict

# Reads the large tier's synthesis, started in the background at the start of the run.
pytestmark = pytest.mark.background("large-tier")

MXS = "manifests/saas-data/MaxScale-mariadb-maxscale.yaml"
APP_POLICY = "manifests/saas-data/NetworkPolicy-allow-app-to-mariadb.yaml"


def raw_config(stack: str, **data: Any) -> dict[str, Any]:
    raw = {k.split(":", 1)[1]: v for k, v in yaml.safe_load((ROOT / f"Pulumi.{stack}.yaml").read_text())["config"].items()
           if k.startswith("saas-platform:")}
    raw.update(data)
    return raw


# ---- when MaxScale runs -----------------------------------------------------------------------


@pytest.mark.parametrize(("stack", "size", "expected"), [
    ("dev", "small", False), ("dev", "large", False),      # a laptop: direct whatever the size says
    ("staging", "small", False),                          # the seed: small is a single database
    ("staging", "medium", True), ("staging", "large", True),
    ("prod", "medium", True),
])
def test_maxscale_is_on_in_medium_and_large_outside_development(stack: str, size: str, expected: bool) -> None:
    cfg = parse_config(raw_config(stack, size=size), stack)
    assert maxscale.enabled(cfg) is expected
    spec = mariadb_spec(cfg, "mariadb", "secret", "mariadb-pitr" if cfg.data.backups_enabled else None)
    # Exactly one thing promotes a primary: MaxScale (maxScaleRef, operator failover off) or the operator.
    assert ("maxScaleRef" in spec) is expected
    if "replication" in spec:
        assert spec["replication"]["primary"]["autoFailover"] is (not expected)


def test_production_large_needs_the_licence_beyond_the_bsl_grant() -> None:
    """MaxScale 23.08 LICENSE2308.TXT: production use is granted with fewer than three servers."""
    with pytest.raises(ConfigError) as error:
        parse_config(raw_config("prod", size="large"), "prod")
    assert "data.maxscale.licensed" in str(error.value) and "3 database servers" in str(error.value)
    cfg = parse_config(raw_config("prod", size="large", data={"maxscale": {"licensed": True}}), "prod")
    assert maxscale.enabled(cfg)
    # medium (two servers) is within the grant; so is staging large (not production).
    parse_config(raw_config("prod", size="medium"), "prod")
    parse_config(raw_config("staging", size="large"), "staging")


def test_maxscale_needs_a_replicated_database() -> None:
    with pytest.raises(ConfigError) as error:
        parse_config(raw_config("dev", data={"maxscale": {"enabled": True}}), "dev")
    assert "data.maxscale.enabled" in str(error.value) and "single database server" in str(error.value)
    # dev with backups replicates (two pods): allowed there on request.
    cfg = parse_config(raw_config("dev", data={"maxscale": {"enabled": True}, "backups": {"enabled": True}}), "dev")
    assert maxscale.enabled(cfg)


def test_maxscale_config_keys_are_checked() -> None:
    with pytest.raises(ConfigError) as error:
        parse_config(raw_config("prod", data={"maxscale": {"replica": 2}}), "prod")
    assert "data.maxscale.replica" in str(error.value)
    with pytest.raises(ConfigError) as error:
        parse_config(raw_config("prod", data={"maxscale": {"replicas": 0}}), "prod")
    assert "data.maxscale.replicas" in str(error.value)


def test_pool_connections_are_within_the_users_and_servers_limits() -> None:
    """persistpoolmax (Configuration-Guide.md "persistpoolmax", per server) holds the app user's
    connections too: the User's max_user_connections and the server's max_connections leave room."""
    cfg = parse_config(raw_config("prod"), "prod")
    pool, demand = maxscale.pool_size(cfg), app_connection_demand(cfg)
    assert pool >= maxscale.THREADS
    spec = mariadb_spec(cfg, "mariadb", "secret", "mariadb-pitr")
    assert f"max_connections = {max(100, demand + pool + 20)}" in str(spec["myCnf"]) or demand + pool + 20 <= 1000
    assert "last_gtid" in str(spec["myCnf"])  # causal_reads (ReadWriteSplit.md) needs it tracked
    assert maxscale.pool_size(parse_config(raw_config("staging"), "staging")) == 0


# ---- per stack --------------------------------------------------------------------------------


def test_the_application_has_one_database_host_behind_maxscale_in_prod_only(stack: Synth) -> None:
    env = stack.object("ConfigMap", "backend-config", "saas-app")["data"]
    expected = {"dev": ("mariadb", "mariadb"), "staging": ("mariadb-primary", "mariadb-secondary"),
                "prod": ("mariadb-maxscale", "mariadb-maxscale")}[stack.stack]
    assert (env["DB_HOST"], env["DB_READ_HOST"]) == tuple(f"{h}.saas-data.svc.cluster.local" for h in expected)
    assert bool(stack.objects("MaxScale")) is (stack.stack == "prod")
    policy = stack.object("NetworkPolicy", "allow-app-to-mariadb", "saas-data")["spec"]
    store = policy["podSelector"]["matchExpressions"][0]["values"]
    assert store == (["maxscale"] if stack.stack == "prod" else ["mariadb"])
    assert [p["port"] for r in policy["ingress"] for p in r["ports"]] == [3306]
    # The data namespace's platform-wide allow no longer opens 3306 on every data pod.
    broad = stack.object("NetworkPolicy", "allow-app", "saas-data")["spec"]
    assert 3306 not in [p["port"] for r in broad["ingress"] for p in r["ports"]]


def test_prod_maxscale_routes_pools_and_fails_over(synthesized: dict[str, Synth]) -> None:
    prod = synthesized["prod"]
    spec = prod.object("MaxScale", "mariadb-maxscale", "saas-data")["spec"]
    db = prod.object("MariaDB", "mariadb", "saas-data")["spec"]
    # The operator's own server inference (maxscale_controller.go setMariadbDefaults) and
    # podIndexForServer (mariadb_controller_status.go) use exactly these pod addresses.
    assert [s["address"] for s in spec["servers"]] == [
        f"mariadb-{i}.mariadb-internal.saas-data.svc.cluster.local" for i in range(int(db["replicas"]))]
    assert "mariaDbRef" not in spec  # the webhook refuses it with servers (maxscale_webhook.go)
    assert all(s["params"]["persistpoolmax"] == str(maxscale.pool_size(parse_config(raw_config("prod"), "prod")))
               and s["params"]["persistmaxtime"] for s in spec["servers"])
    (service,) = spec["services"]
    assert service["router"] == "readwritesplit" and service["listener"]["port"] == 3306
    assert service["params"]["transaction_replay"] == "true" and service["params"]["causal_reads"] == "local"
    assert spec["monitor"]["module"] == "mariadbmon" and spec["monitor"]["params"]["auto_failover"] == "true"
    assert spec["monitor"]["cooperativeMonitoring"] == "majority_of_all" and spec["replicas"] == 2
    assert db["maxScaleRef"] == {"name": "mariadb-maxscale"} and db["replication"]["primary"] == {"autoFailover": False}
    assert spec["admin"]["guiEnabled"] is False and spec["podDisruptionBudget"] == {"maxUnavailable": 1}
    assert spec["affinity"] == {"antiAffinityEnabled": True}
    # Users MaxScale logs in as, with the operator's privileges for mariadbmon (monitorGrantOpts).
    users = {u["spec"]["name"] for u in prod.objects("User", "saas-data") if u["apiVersion"] == maxscale.API_VERSION}
    assert {"maxscale-server", "maxscale-monitor", "maxscale-sync"} <= users
    monitor = next(g for g in prod.objects("Grant") if g["spec"].get("username") == "maxscale-monitor")["spec"]
    assert {"REPLICATION SLAVE ADMIN", "READ_ONLY ADMIN", "SUPER"} <= set(monitor["privileges"])
    # The MariaDB is Ready only once its MaxScale exists (mariadb_controller_status.go
    # reconcileStatus: a missing maxScaleRef target keeps Ready false), and the engine awaits
    # Ready: the MaxScale must depend neither on the MariaDB nor on what waits for it.
    record = next(r for r in prod.resources if r["type"] == "kubernetes:k8s.mariadb.com/v1alpha1:MaxScale")
    waiting = {r["urn"] for r in prod.resources if r["type"].startswith("kubernetes:k8s.mariadb.com/")
               and r["inputs"].get("kind") in ("MariaDB", "User", "Grant", "Database")}
    assert not waiting & set(record["dependencies"])
    # The engine waits for MaxScale before the application's migrations (pulumi.com/waitFor).
    migrate = next(r for r in prod.resources if r["type"] == "kubernetes:batch/v1:Job" and r["name"].startswith("backend-migrate"))
    maxscale_urn = next(r["urn"] for r in prod.resources if r["type"] == "kubernetes:k8s.mariadb.com/v1alpha1:MaxScale")
    assert maxscale_urn in migrate["dependencies"]


def test_footprint_counts_maxscale_where_it_runs(stack: Synth) -> None:
    components = json.loads((stack.out / "footprint.json").read_text())["components"]
    assert ("maxscale" in components) is (stack.stack == "prod")
    if stack.stack == "prod":
        kinds = {w["kind"]: w["replicas"]["min"] for w in components["maxscale"]["workloads"]}
        assert kinds == {"MaxScale": 2, "Deployment": 1}
        assert components["maxscale"]["min"]["requests"]["memory_mi"] > 0


# ---- the large tier: three servers, synthesized once -----------------------------------------


@pytest.fixture(scope="session")
def large() -> Synth:
    """prod with `size: large` (shared with tests/test_redis_cluster.py)."""
    return large_tier()


def test_large_tier_fronts_three_servers(large: Synth) -> None:
    # Every judge passes on it too: tests/test_large_tier.py (one judging shared with the Redis Cluster's).
    spec = large.object("MaxScale", "mariadb-maxscale", "saas-data")["spec"]
    assert len(spec["servers"]) == 3


# ---- the judges see MaxScale (mutations of a fresh prod synthesis) ----------------------------


@pytest.fixture
def fresh(synthesized: dict[str, Synth], tmp_path: Path) -> Path:
    assert synthesized["prod"].returncode == 0, synthesized["prod"].stderr
    return copy(synthesized["prod"].out, tmp_path)


def test_operators_judge_models_maxscale_pod_security(fresh: Path) -> None:
    """pkg/builder/securitycontext_builder.go buildPodSecurityContextWithUserGroup (v26.6.0): without
    spec.podSecurityContext the operator sets runAsNonRoot/998/996 and no seccomp profile."""
    assert not has(verdict("operators", fresh).findings, "mariadb-maxscale")
    edit_manifest(fresh / MXS, lambda m: m["spec"].pop("podSecurityContext"))
    proc = cli("operators", fresh)
    assert proc.returncode == 1
    assert "pod saas-data/mariadb-maxscale violates PodSecurity restricted: container maxscale: seccompProfile" in proc.stdout


def test_operators_judge_models_the_maxscale_webhook_and_servers(fresh: Path) -> None:
    def break_it(m: dict[str, Any]) -> None:
        m["spec"]["mariaDbRef"] = {"name": "mariadb"}
        m["spec"]["servers"][0]["address"] = "mariadb-0.mariadb-internl.saas-data.svc.cluster.local"

    edit_manifest(fresh / MXS, break_it)
    findings = verdict("operators", fresh).findings
    assert has(findings, "MaxScale saas-data/mariadb-maxscale: webhook rejects it", "'spec.mariaDbRef' and 'spec.servers'")
    assert has(findings, "host mariadb-internl.saas-data.svc.cluster.local names no Service")


def test_network_judge_requires_the_app_through_maxscale_only(fresh: Path) -> None:
    """Pointing the app policy back at the MariaDB pods: the backend loses MaxScale and reaches
    MariaDB past it (the network judge's forbidden flow for `proxied` MariaDBs)."""
    edit_manifest(fresh / APP_POLICY, lambda p: p["spec"]["podSelector"]["matchExpressions"][0].update(values=["mariadb"]))
    findings = verdict("network", fresh).findings
    assert has(findings, "required flow denied: saas-app/backend-web -> saas-data/mariadb-maxscale:3306")
    assert has(findings, "forbidden flow allowed: saas-app/backend-web -> saas-data/mariadb:3306", "past MaxScale")


def test_network_judge_keeps_the_maxscale_admin_api_closed_to_the_app(fresh: Path) -> None:
    """Opening MaxScale's admin port to the backend on both sides (the app namespace's egress and
    the data namespace's ingress) is a forbidden lateral flow."""
    open_admin = lambda rules: rules[0]["ports"].append({"port": maxscale.ADMIN_PORT, "protocol": "TCP"})  # noqa: E731
    edit_manifest(fresh / APP_POLICY, lambda p: open_admin(p["spec"]["ingress"]))
    edit_manifest(fresh / "manifests/saas-app/NetworkPolicy-allow-data.yaml", lambda p: open_admin(p["spec"]["egress"]))
    proc = cli("network", fresh)
    assert proc.returncode == 1
    assert "forbidden flow allowed: saas-app/backend-web -> saas-data/mariadb-maxscale:8989" in proc.stdout
