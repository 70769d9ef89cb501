"""RabbitMQ: the operators, the cluster and the topology per stack, every custom resource valid
against the upstream CRDs, and the dead-letter wiring proven on a real rabbitmq-server."""

from __future__ import annotations

import base64
import json
import os
import re
import socket
import subprocess
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import pytest

from components.data.rabbitmq import (
    CLUSTER_OPERATOR_MANIFEST,
    RABBITMQ_IMAGE,
    TOPOLOGY_OPERATOR_MANIFEST,
    Topology,
    definitions,
)
from tests.conftest import VARIANT_QUEUES, Synth
from tests.upstream import crd_errors

DATA = "saas-data"
TOPOLOGY_KINDS = ("Vhost", "User", "Permission", "Queue", "Exchange", "Binding", "Policy")


def rabbit(stack: Synth, kind: str) -> list[dict[str, Any]]:
    return [o for o in stack.objects(kind, DATA) if o["apiVersion"].startswith("rabbitmq.com/")]


def only(stack: Synth, kind: str) -> dict[str, Any]:
    (obj,) = rabbit(stack, kind)
    return obj


# ---- operators and cluster -----------------------------------------------------------------


def test_operators_come_from_their_pinned_release_manifests(stack: Synth) -> None:
    files = {r["name"]: r for r in stack.of_type("kubernetes:yaml/v2:ConfigFile")}
    cluster_op, topology_op = files["rabbitmq-cluster-operator"], files["rabbitmq-topology-operator"]
    assert cluster_op["inputs"]["file"] == CLUSTER_OPERATOR_MANIFEST
    assert "/download/v2.22.3/cluster-operator.yml" in CLUSTER_OPERATOR_MANIFEST
    assert topology_op["inputs"]["file"] == TOPOLOGY_OPERATOR_MANIFEST
    assert "/download/v1.20.1/messaging-topology-operator-with-certmanager.yaml" in TOPOLOGY_OPERATOR_MANIFEST
    # The topology operator's webhook needs the cluster operator's CRDs first.
    assert cluster_op["urn"] in topology_op["dependencies"]


def test_cluster_size_persistence_resources_and_metrics(stack: Synth) -> None:
    cluster = only(stack, "RabbitmqCluster")
    spec = cluster["spec"]
    assert spec["replicas"] == (1 if stack.stack == "dev" else 3)
    assert spec["image"] == RABBITMQ_IMAGE and not spec["image"].endswith(":latest")
    assert re.fullmatch(r"[1-9][0-9]*Gi", spec["persistence"]["storage"])
    assert spec["resources"]["requests"]["cpu"] and spec["resources"]["requests"]["memory"]
    assert spec["resources"]["limits"]["memory"] == spec["resources"]["requests"]["memory"]
    assert "rabbitmq_prometheus" in spec["rabbitmq"]["additionalPlugins"]
    record = next(r for r in stack.of_type("kubernetes:rabbitmq.com/v1beta1:RabbitmqCluster"))
    assert record["protect"] is (stack.stack == "prod")
    operator = next(r for r in stack.of_type("kubernetes:yaml/v2:ConfigFile") if r["name"].endswith("cluster-operator"))
    assert operator["urn"] in record["dependencies"]


def test_service_monitor_scrapes_the_prometheus_plugin(stack: Synth) -> None:
    monitor = stack.object("ServiceMonitor", "rabbitmq", DATA)
    # The operator labels its Services with these, whatever labels the RabbitmqCluster has.
    assert monitor["spec"]["selector"]["matchLabels"] == {
        "app.kubernetes.io/name": "rabbitmq", "app.kubernetes.io/component": "rabbitmq",
    }
    assert {e["port"] for e in monitor["spec"]["endpoints"]} == {"prometheus"}
    assert "/metrics/detailed" in {e.get("path") for e in monitor["spec"]["endpoints"]}


def test_management_ui_is_guarded_and_internal_in_dev(stack: Synth) -> None:
    routes = [r for r in stack.objects("IngressRoute", DATA) if r["metadata"]["name"] == "rabbitmq-management"]
    if stack.stack == "dev":
        assert routes == []
        return
    (route,) = routes
    (rule,) = route["spec"]["routes"]
    assert rule["match"] == f"Host(`rabbitmq.{stack.outputs['domain']}`)"
    assert rule["middlewares"] == [{"name": "admin-guard", "namespace": "saas-ingress"}]
    assert rule["services"] == [{"name": "rabbitmq", "port": 15672}]
    assert route["spec"]["entryPoints"] == ["websecure"] and "tls" in route["spec"]


def test_network_policies_open_only_what_rabbitmq_needs(stack: Synth) -> None:
    ingress = stack.object("NetworkPolicy", "rabbitmq-allow-ingress", DATA)["spec"]["ingress"]
    by_source = {}
    for rule in ingress:
        for peer in rule["from"]:
            key = peer.get("namespaceSelector", {}).get("matchLabels", {}).get("kubernetes.io/metadata.name", "nodes")
            by_source[key] = {p["port"] for p in rule["ports"]}
    assert by_source["saas-app"] == {5672}
    assert by_source["saas-ingress"] == {15672}
    assert by_source["saas-monitoring"] == {15692}
    assert by_source["rabbitmq-system"] == {15672}
    assert {4369, 25672} <= by_source["nodes"]


# ---- topology ------------------------------------------------------------------------------


def test_every_rabbitmq_custom_resource_is_valid_against_the_upstream_crds(stack: Synth) -> None:
    objects = [o for kind in ("RabbitmqCluster", *TOPOLOGY_KINDS) for o in rabbit(stack, kind)]
    objects += [stack.object("ServiceMonitor", "rabbitmq", DATA)]
    objects += [r for r in stack.objects("IngressRoute", DATA) if r["metadata"]["name"] == "rabbitmq-management"]
    assert len(objects) >= (10 if stack.stack == "dev" else 11)
    errors = [e for o in objects for e in crd_errors(o)]
    assert errors == []


def test_crd_validation_catches_a_wrong_topology_field(stack: Synth) -> None:
    queue = json.loads(json.dumps(rabbit(stack, "Queue")[0]))
    queue["spec"]["durabel"] = True
    queue["spec"]["deletionPolicy"] = "keep"
    errors = crd_errors(queue)
    assert any("durabel" in e for e in errors) and any("deletionPolicy" in e for e in errors), errors


def test_topology_objects_belong_to_the_cluster_and_the_app_vhost(stack: Synth) -> None:
    vhost = only(stack, "Vhost")["spec"]
    assert vhost["name"] == stack.outputs["rabbitmq"]["vhost"] and vhost["defaultQueueType"] == "quorum"
    for kind in TOPOLOGY_KINDS:
        for obj in rabbit(stack, kind):
            assert obj["spec"]["rabbitmqClusterReference"] == {"name": "rabbitmq"}, obj["metadata"]["name"]
            if kind not in ("Vhost", "User"):
                assert obj["spec"]["vhost"] == vhost["name"], obj["metadata"]["name"]
    keep = "retain" if stack.stack == "prod" else "delete"
    assert vhost["deletionPolicy"] == keep
    assert {q["spec"]["deletionPolicy"] for q in rabbit(stack, "Queue")} == {keep}


def test_user_password_is_generated_and_kept_in_a_secret(stack: Synth) -> None:
    user = only(stack, "User")
    secret = stack.object("Secret", user["spec"]["importCredentialsSecret"]["name"], DATA)
    assert secret["stringData"] == {"username": "[secret]", "password": "[secret]"}
    assert "data" not in secret
    permission = only(stack, "Permission")["spec"]
    assert permission["userReference"] == {"name": user["metadata"]["name"]}
    assert set(permission["permissions"]) == {"configure", "write", "read"}
    assert stack.outputs["rabbitmqUrl"] == "[secret]"
    passwords = [r for r in stack.of_type("random:index/randomPassword:RandomPassword") if r["name"].startswith("rabbitmq-")]
    assert passwords and passwords[0]["inputs"]["length"] >= 32


def dead_letter_wiring(stack: Synth) -> dict[str, Any]:
    """Follow the wiring from the objects: queue -> policy -> exchange -> binding -> queue."""
    queues = {q["spec"]["name"]: q["spec"] for q in rabbit(stack, "Queue")}
    (policy,) = [p["spec"] for p in rabbit(stack, "Policy")]
    exchanges = {e["spec"]["name"]: e["spec"] for e in rabbit(stack, "Exchange")}
    bindings = [b["spec"] for b in rabbit(stack, "Binding")]
    return {"queues": queues, "policy": policy, "exchanges": exchanges, "bindings": bindings}


def test_every_application_queue_dead_letters_into_the_dead_letter_queue(stack: Synth) -> None:
    wiring = dead_letter_wiring(stack)
    app_queues = stack.outputs["rabbitmq"]["queues"]
    dlq = stack.outputs["rabbitmq"]["deadLetterQueue"]
    policy = wiring["policy"]
    definition = policy["definition"]
    assert definition["dead-letter-strategy"] == "at-least-once"
    assert definition["overflow"] == "reject-publish"  # required by at-least-once
    assert definition["delivery-limit"] == 5
    assert policy["applyTo"] in ("queues", "quorum_queues")
    for name in app_queues:
        assert wiring["queues"][name]["type"] == "quorum" and wiring["queues"][name]["durable"] is True
        assert re.fullmatch(policy["pattern"], name), name
        exchange = wiring["exchanges"][definition["dead-letter-exchange"]]
        targets = [b["destination"] for b in wiring["bindings"] if b["source"] == exchange["name"]]
        assert exchange["type"] == "fanout" and targets == [dlq]
    # The dead-letter queue itself is a quorum queue the policy does not touch (no loops).
    assert wiring["queues"][dlq]["type"] == "quorum"
    assert not re.search(policy["pattern"], dlq)


def test_queues_and_delivery_limit_follow_config(variant: Synth) -> None:
    assert variant.outputs["rabbitmq"]["queues"] == VARIANT_QUEUES
    wiring = dead_letter_wiring(variant)
    assert set(wiring["queues"]) == {*VARIANT_QUEUES, "dead-letter"}
    assert wiring["policy"]["definition"]["delivery-limit"] == 3
    # The dot in `exports.high` is escaped: the pattern matches that queue and nothing like it.
    assert re.fullmatch(wiring["policy"]["pattern"], "exports.high")
    assert not re.fullmatch(wiring["policy"]["pattern"], "exportsXhigh")
    assert only(variant, "RabbitmqCluster")["spec"]["persistence"]["storage"] == "20Gi"


# ---- the same topology on a real broker ----------------------------------------------------


def definitions_from_resources(stack: Synth, password: str) -> dict[str, Any]:
    """What the Messaging Topology Operator declares for the synthesized objects, as a
    definitions document (its mapping of CR fields onto the broker's)."""
    user = stack.outputs["rabbitmq"]["username"]
    out: dict[str, list[dict[str, Any]]] = {k: [] for k in ("vhosts", "users", "permissions", "queues", "exchanges", "bindings", "policies")}
    for obj in rabbit(stack, "Vhost"):
        out["vhosts"].append({"name": obj["spec"]["name"], "metadata": {"default_queue_type": obj["spec"]["defaultQueueType"]}})
    for obj in rabbit(stack, "User"):
        out["users"].append({"name": user, "password": password, "tags": obj["spec"].get("tags", [])})
    for obj in rabbit(stack, "Permission"):
        out["permissions"].append({"user": user, "vhost": obj["spec"]["vhost"], **obj["spec"]["permissions"]})
    for obj in rabbit(stack, "Queue"):
        s = obj["spec"]
        out["queues"].append({"name": s["name"], "vhost": s["vhost"], "durable": s["durable"],
                              "auto_delete": s["autoDelete"], "arguments": {"x-queue-type": s["type"]}})
    for obj in rabbit(stack, "Exchange"):
        s = obj["spec"]
        out["exchanges"].append({"name": s["name"], "vhost": s["vhost"], "type": s["type"], "durable": s["durable"],
                                 "auto_delete": s["autoDelete"], "internal": False, "arguments": {}})
    for obj in rabbit(stack, "Binding"):
        s = obj["spec"]
        out["bindings"].append({"source": s["source"], "vhost": s["vhost"], "destination": s["destination"],
                                "destination_type": s["destinationType"], "routing_key": s["routingKey"], "arguments": {}})
    for obj in rabbit(stack, "Policy"):
        s = obj["spec"]
        out["policies"].append({"name": s["name"], "vhost": s["vhost"], "pattern": s["pattern"],
                                "apply-to": s["applyTo"], "priority": s["priority"], "definition": s["definition"]})
    return out


def canonical(doc: dict[str, Any]) -> dict[str, list[str]]:
    return {k: sorted(json.dumps(item, sort_keys=True) for item in v) for k, v in doc.items()}


def test_definitions_document_is_equivalent_to_the_resources(variant: Synth) -> None:
    topology = Topology(vhost="app", user="app", queues=tuple(VARIANT_QUEUES), delivery_limit=3)
    assert canonical(definitions_from_resources(variant, "pw")) == canonical(definitions(topology, "pw"))
    # And it notices a difference.
    assert canonical(definitions_from_resources(variant, "pw")) != canonical(
        definitions(Topology(vhost="app", user="app", queues=tuple(VARIANT_QUEUES), delivery_limit=4), "pw")
    )


RABBITMQ_BIN = Path("/usr/lib/rabbitmq/bin")  # the unwrapped scripts: Debian's wrappers switch user


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Broker:
    node: str
    env: dict[str, str]
    management_port: int

    def ctl(self, *args: str, timeout: int = 120) -> str:
        proc = subprocess.run(
            [str(RABBITMQ_BIN / "rabbitmqctl"), "-q", "-n", self.node, *args],
            env=self.env, capture_output=True, text=True, timeout=timeout,
        )
        assert proc.returncode == 0, f"rabbitmqctl {' '.join(args)}: {proc.stdout}{proc.stderr}"
        return proc.stdout

    def api(self, path: str, body: dict[str, Any]) -> Any:
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.management_port}/api/{path}",
            data=json.dumps(body).encode(),
            headers={"content-type": "application/json",
                     "authorization": "Basic " + base64.b64encode(b"guest:guest").decode()},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - loopback only
            return json.loads(response.read())


@pytest.fixture(scope="session")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Broker]:
    """One rabbitmq-server on loopback for the session, with its own data, logs and cookie."""
    server = RABBITMQ_BIN / "rabbitmq-server"
    assert server.exists(), (
        "rabbitmq-server is missing: run `make system-deps` or `apt-get install rabbitmq-server`"
    )
    base = tmp_path_factory.mktemp("rabbitmq")
    amqp, management, dist = _free_port(), _free_port(), _free_port()
    (base / "rabbitmq.conf").write_text(
        f"listeners.tcp.default = 127.0.0.1:{amqp}\n"
        f"management.tcp.ip = 127.0.0.1\nmanagement.tcp.port = {management}\n"
        "disk_free_limit.absolute = 50MB\n"
    )
    (base / "enabled_plugins").write_text("[rabbitmq_management].\n")
    node = f"saas-test-{os.getpid()}@localhost"
    env = {
        **os.environ,
        "HOME": str(base),  # the Erlang cookie lives here, shared by server and rabbitmqctl
        "RABBITMQ_NODENAME": node,
        "RABBITMQ_MNESIA_BASE": str(base / "mnesia"),
        "RABBITMQ_LOG_BASE": str(base / "log"),
        "RABBITMQ_CONFIG_FILE": str(base / "rabbitmq.conf"),
        "RABBITMQ_ENABLED_PLUGINS_FILE": str(base / "enabled_plugins"),
        "RABBITMQ_DIST_PORT": str(dist),
        "RABBITMQ_PID_FILE": str(base / "rabbitmq.pid"),
    }
    process = subprocess.Popen([str(server)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=base)
    broker = Broker(node, env, management)
    try:
        # ~9 s on an idle machine; far more when the cores are busy.
        broker.ctl("wait", str(base / "rabbitmq.pid"), "--timeout", "280", timeout=300)
        yield broker
    finally:
        subprocess.run([str(RABBITMQ_BIN / "rabbitmqctl"), "-q", "-n", node, "stop"], env=env,
                       capture_output=True, timeout=120)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()


@pytest.fixture(scope="session")
def imported(broker: Broker, variant: Synth, tmp_path_factory: pytest.TempPathFactory) -> Broker:
    path = tmp_path_factory.mktemp("definitions") / "definitions.json"
    path.write_text(json.dumps(definitions_from_resources(variant, "test-password-1")))
    broker.ctl("import_definitions", str(path))
    # The import is asynchronous: wait until the policy is visible.
    for _ in range(60):
        if "dead-lettering" in broker.ctl("list_policies", "-p", "app"):
            break
        time.sleep(0.5)
    return broker


def _rows(text: str) -> list[dict[str, Any]]:
    return json.loads(text)


def test_real_broker_applies_the_dead_letter_policy_to_every_application_queue(imported: Broker) -> None:
    queues = {q["name"]: q for q in _rows(imported.ctl("list_queues", "-p", "app", "name", "type", "policy", "--formatter", "json"))}
    assert set(queues) == {*VARIANT_QUEUES, "dead-letter"}
    assert {q["type"] for q in queues.values()} == {"quorum"}
    assert {name: queues[name]["policy"] for name in VARIANT_QUEUES} == {name: "dead-lettering" for name in VARIANT_QUEUES}
    assert queues["dead-letter"]["policy"] == ""
    (policy,) = _rows(imported.ctl("list_policies", "-p", "app", "--formatter", "json"))
    assert json.loads(policy["definition"]) == {
        "dead-letter-exchange": "dead-letter", "dead-letter-strategy": "at-least-once",
        "overflow": "reject-publish", "delivery-limit": 3,
    }
    bindings = _rows(imported.ctl("list_bindings", "-p", "app", "source_name", "destination_name", "--formatter", "json"))
    assert {"source_name": "dead-letter", "destination_name": "dead-letter"} in bindings
    (permission,) = _rows(imported.ctl("list_permissions", "-p", "app", "--formatter", "json"))
    assert permission["user"] == "app"


def test_real_broker_dead_letters_a_message_after_the_delivery_limit(imported: Broker) -> None:
    imported.ctl("set_permissions", "-p", "app", "guest", ".*", ".*", ".*")  # the test client
    for queue in VARIANT_QUEUES:
        assert imported.api("exchanges/app/amq.default/publish", {
            "properties": {}, "routing_key": queue, "payload": f"job for {queue}", "payload_encoding": "string",
        }) == {"routed": True}
        # A worker that keeps failing: every delivery is rejected and requeued.
        deliveries = 0
        while imported.api(f"queues/app/{queue}/get", {"count": 1, "ackmode": "reject_requeue_true", "encoding": "auto"}):
            deliveries += 1
            assert deliveries <= 10, "the delivery limit never kicked in"
        assert deliveries == 3 + 1  # the first delivery plus three redeliveries
    dead = []
    for _ in range(40):
        dead += imported.api("queues/app/dead-letter/get", {"count": 10, "ackmode": "ack_requeue_false", "encoding": "auto"})
        if len(dead) >= len(VARIANT_QUEUES):
            break
        time.sleep(0.25)
    assert sorted(m["payload"] for m in dead) == sorted(f"job for {q}" for q in VARIANT_QUEUES)
    assert {m["properties"]["headers"]["x-first-death-reason"] for m in dead} == {"delivery_limit"}
