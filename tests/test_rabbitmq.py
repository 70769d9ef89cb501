"""RabbitMQ: the operators, the cluster and the topology per stack, every custom resource valid
against the upstream CRDs, and the dead-letter wiring proven on a real rabbitmq-server."""

from __future__ import annotations

import base64
import json
import os
import re
import signal
import subprocess
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import pytest
import yaml

from components.data.rabbitmq import RABBITMQ_IMAGE
from components.data.rabbitmq_definitions import Topology, definitions
from components.data.rabbitmq_operators import CLUSTER_OPERATOR_MANIFEST, TOPOLOGY_OPERATOR_MANIFEST
from rehearsal.ports import free_port
from tests.conftest import ROOT, VARIANT_QUEUES, Synth
from tests.upstream import crd_errors

DATA = "saas-data"
TOPOLOGY_KINDS = ("Vhost", "User", "Permission", "Queue", "Exchange", "Binding", "Policy")


def rabbit(stack: Synth, kind: str) -> list[dict[str, Any]]:
    return [o for o in stack.objects(kind, DATA) if o["apiVersion"].startswith("rabbitmq.com/")]


def only(stack: Synth, kind: str) -> dict[str, Any]:
    (obj,) = rabbit(stack, kind)
    return obj


# ---- operators and cluster -----------------------------------------------------------------


def _children(stack: Synth, parent: dict[str, Any]) -> list[dict[str, Any]]:
    return [r for r in stack.resources if r["parent"] == parent["urn"]]


def _config_file(stack: Synth, suffix: str) -> dict[str, Any]:
    (record,) = [r for r in stack.of_type("kubernetes:yaml/v2:ConfigGroup") if r["name"].endswith(suffix)]
    return record


def test_operators_come_from_the_vendored_pinned_manifests(stack: Synth) -> None:
    """Installed from the files in upstream/manifests/rabbitmq/ (recorded in sources.json with
    their tag, commit and license), expanded by the program: every object is in the plan."""
    sources = {e["path"]: e for e in json.loads((ROOT / "upstream" / "sources.json").read_text())}
    for path, tag in ((CLUSTER_OPERATOR_MANIFEST, "v2.22.3"), (TOPOLOGY_OPERATOR_MANIFEST, "v1.20.1")):
        entry = sources[str(path.relative_to(ROOT / "upstream"))]
        assert entry["ref"] == tag and entry["license"] == "MPL-2.0" and len(entry["commit"]) == 40
    cluster_op, topology_op = _config_file(stack, "cluster-operator"), _config_file(stack, "topology-operator")
    # Every object of the files (but the shared Namespace) is a resource of the plan.
    planned = {(m["kind"], m["metadata"].get("namespace", ""), m["metadata"]["name"]) for _, m in stack.manifests()}
    for path in (CLUSTER_OPERATOR_MANIFEST, TOPOLOGY_OPERATOR_MANIFEST):
        for obj in yaml.safe_load_all(path.read_text()):
            if obj and obj["kind"] != "Namespace":
                assert (obj["kind"], obj["metadata"].get("namespace", ""), obj["metadata"]["name"]) in planned, obj["metadata"]
    # Each file is one provider-side ConfigGroup whose objects the provider registers under it,
    # named `<group>:<namespace>/<name>` (pulumi-kubernetes provider/pkg/provider/yaml/v2/yaml.go
    # `register`, v4.32.0). The provider constructs the topology operator's group only once
    # the cluster operator's is done: a dependency on a remote component waits for every
    # object it created.
    cluster_objects = _children(stack, cluster_op)
    assert {r["type"].split(":")[-1] for r in cluster_objects} >= {"Deployment", "CustomResourceDefinition", "Certificate"}
    assert all(r["custom"] and r["name"].startswith("rabbitmq-cluster-operator:") for r in cluster_objects)
    assert "rabbitmq-cluster-operator:rabbitmq-system/rabbitmq-cluster-operator" in {r["name"] for r in cluster_objects}
    assert cluster_op["urn"] in topology_op["dependencies"]
    assert _children(stack, topology_op)
    images = {
        c["image"] for d in stack.objects("Deployment", "rabbitmq-system") for c in d["spec"]["template"]["spec"]["containers"]
    }
    assert images == {"ghcr.io/rabbitmq/cluster-operator:2.22.3", "ghcr.io/rabbitmq/messaging-topology-operator:1.20.1"}


def test_one_source_of_the_operator_namespace(stack: Synth) -> None:
    """Both release manifests contain `Namespace rabbitmq-system` (cluster-operator v2.22.3
    config/installation/kustomization.yaml includes ../namespace/base; messaging-topology-operator
    v1.20.1 config/manager/manager.yaml, renamed by the installation's namespace). Two resources
    for one object: the second create fails AlreadyExists (pulumi-kubernetes >= 4.29
    provider/pkg/await/await.go creates client-side unless upsertExistingObjects)."""
    texts = [path.read_text() for path in (CLUSTER_OPERATOR_MANIFEST, TOPOLOGY_OPERATOR_MANIFEST)]
    assert all("kind: Namespace" in text for text in texts)  # upstream has it in both
    namespaces = [r for r in stack.of_type("kubernetes:core/v1:Namespace") if r["inputs"]["metadata"]["name"] == "rabbitmq-system"]
    assert len(namespaces) == 1
    (namespace,) = namespaces
    assert not namespace["parent"].endswith(("cluster-operator", "topology-operator"))
    # Isolated like every other namespace.
    assert stack.object("NetworkPolicy", "default-deny", "rabbitmq-system")["spec"]["policyTypes"] == ["Ingress", "Egress"]
    assert stack.object("Namespace", "rabbitmq-system")["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    webhooks = stack.object("NetworkPolicy", "allow-webhooks", "rabbitmq-system")["spec"]
    assert [p["port"] for p in webhooks["ingress"][0]["ports"]] == [9443]
    management = stack.object("NetworkPolicy", "allow-management-api", "rabbitmq-system")["spec"]
    assert management["egress"][0]["to"][0]["namespaceSelector"]["matchLabels"] == {"kubernetes.io/metadata.name": DATA}


def test_both_operators_wait_for_cert_manager(stack: Synth) -> None:
    """Since v2.22.0 the cluster operator's manifest carries cert-manager Issuer/Certificates
    and webhooks with failurePolicy Fail (cluster-operator v2.22.3 config/installation/
    kustomization.yaml: ../webhook, ../certmanager); a create that races cert-manager's CRDs or
    webhook is not retried (pulumi-kubernetes await.go retries only NotFound/NoMatch)."""
    (cert_manager,) = [r["urn"] for r in stack.of_type("kubernetes:helm.sh/v3:Release") if r["name"] == "cert-manager"]
    for suffix in ("cluster-operator", "topology-operator"):
        # The provider creates a group's objects once the group's dependencies are done.
        group = _config_file(stack, suffix)
        assert _children(stack, group) and cert_manager in group["dependencies"], suffix
    kinds = {o["kind"] for o in stack.objects("Certificate", "rabbitmq-system") + stack.objects("Issuer", "rabbitmq-system")}
    assert kinds == {"Certificate", "Issuer"}


def test_operators_fit_the_platform_rules(stack: Synth) -> None:
    """The expanded objects carry the platform's labels and roll safely; in dev the operators
    ask for less than the manifests' 200m/500Mi and 300m/128Mi."""
    for deployment in stack.objects("Deployment", "rabbitmq-system"):
        assert deployment["metadata"]["labels"]["app.kubernetes.io/part-of"] == "saas-platform"
        assert deployment["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
        (container,) = deployment["spec"]["template"]["spec"]["containers"]
        assert container["securityContext"]["readOnlyRootFilesystem"] is True
        requests = container["resources"]["requests"]
        if stack.stack == "dev":
            assert requests == {"cpu": "20m", "memory": "64Mi"}
        else:
            assert requests["memory"] in ("500Mi", "128Mi")
    assert [f for f in stack.findings if f["level"] == "mandatory"] == []
    monitor = stack.object("PodMonitor", "rabbitmq-cluster-operator", "rabbitmq-system")["spec"]
    assert monitor["podMetricsEndpoints"][0]["port"] == "metrics"


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
    # The cluster waits for its CRD and the operator: the cluster operator's group, so every
    # object of its file.
    assert _config_file(stack, "cluster-operator")["urn"] in record["dependencies"]


def rabbitmq_monitor(stack: Synth) -> dict:
    """The monitor of the Prometheus plugin: a ServiceMonitor, or with data.tls (staging, prod) a
    PodMonitor, because the client Service then offers `prometheus-tls` instead of `prometheus`
    (cluster-operator v2.22.3 internal/resource/service.go generateServicePortsMap)."""
    kind = "ServiceMonitor" if stack.stack == "dev" else "PodMonitor"
    return stack.object(kind, "rabbitmq", DATA)


def test_service_monitor_scrapes_the_prometheus_plugin(stack: Synth) -> None:
    monitor = rabbitmq_monitor(stack)
    # The operator labels its Services and pods with these, whatever labels the RabbitmqCluster has.
    assert monitor["spec"]["selector"]["matchLabels"] == {
        "app.kubernetes.io/name": "rabbitmq", "app.kubernetes.io/component": "rabbitmq",
    }
    endpoints = monitor["spec"]["endpoints" if monitor["kind"] == "ServiceMonitor" else "podMetricsEndpoints"]
    assert {e["port"] for e in endpoints} == {"prometheus"}
    assert "/metrics/detailed" in {e.get("path") for e in endpoints}


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
    # With data.tls (staging, prod) the application reaches AMQPS only.
    assert by_source["saas-app"] == ({5672} if stack.stack == "dev" else {5671})
    assert by_source["saas-ingress"] == {15672}
    assert by_source["saas-monitoring"] == {15692}
    assert by_source["rabbitmq-system"] == {15672}
    # Only the backend workloads, Traefik and Prometheus of those namespaces.
    selectors = {
        peer["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"]: peer.get("podSelector", {}).get("matchLabels")
        for rule in ingress for peer in rule["from"] if "namespaceSelector" in peer
    }
    assert selectors["saas-app"] == {"app.kubernetes.io/name": "backend"}
    assert selectors["saas-monitoring"] == {"app.kubernetes.io/name": "prometheus"}
    assert {4369, 25672} <= by_source["nodes"]


# ---- topology ------------------------------------------------------------------------------


def test_every_rabbitmq_custom_resource_is_valid_against_the_upstream_crds(stack: Synth) -> None:
    objects = [o for kind in ("RabbitmqCluster", *TOPOLOGY_KINDS) for o in rabbit(stack, kind)]
    objects += [rabbitmq_monitor(stack)]
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


# Module scope: only this file uses the broker; it stops when the file is done instead of
# idling (Erlang schedulers spin) through the rest of the session.
@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Broker]:
    """One rabbitmq-server on loopback for the session, with its own data, logs and cookie."""
    server = RABBITMQ_BIN / "rabbitmq-server"
    assert server.exists(), (
        "rabbitmq-server is missing: run `make system-deps` or `apt-get install rabbitmq-server`"
    )
    base = tmp_path_factory.mktemp("rabbitmq")
    amqp, management, dist = free_port(), free_port(), free_port()
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
    process = subprocess.Popen([str(server)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=base,
                               start_new_session=True)
    broker = Broker(node, env, management)
    try:
        # ~9 s on an idle machine; far more when the cores are busy.
        broker.ctl("wait", str(base / "rabbitmq.pid"), "--timeout", "280", timeout=300)
        yield broker
    finally:
        # A throwaway node (its data in tmp): killed with its process group (the script, beam and
        # its helpers), not stopped gracefully (`rabbitmqctl stop` took ~6 s of the session's end).
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)


@pytest.fixture(scope="module")
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


@pytest.mark.parametrize("path", [CLUSTER_OPERATOR_MANIFEST, TOPOLOGY_OPERATOR_MANIFEST], ids=lambda p: p.name)
def test_vendored_operator_manifests_are_consistent(path: Path) -> None:
    """The rebuilt release manifests (scripts/build-rabbitmq-manifests.py) hang together the way
    the published ones must: every webhook calls a Service of the file in its namespace, the
    cert-manager CA injection names a Certificate of the file, Certificates use an Issuer of
    the file, the serving certificate covers the webhook Service's DNS names, and bindings and
    the Deployment use the file's ServiceAccount."""
    objects = [o for o in yaml.safe_load_all(path.read_text()) if o]
    index = {(o["kind"], o["metadata"].get("namespace"), o["metadata"]["name"]): o for o in objects}
    namespace = "rabbitmq-system"
    (deployment,) = [o for o in objects if o["kind"] == "Deployment"]
    assert ("ServiceAccount", namespace, deployment["spec"]["template"]["spec"]["serviceAccountName"]) in index
    webhook_services = set()
    for config in (o for o in objects if o["kind"].endswith("WebhookConfiguration")):
        ca_namespace, certificate = config["metadata"]["annotations"]["cert-manager.io/inject-ca-from"].split("/")
        serving = index[("Certificate", ca_namespace, certificate)]
        for webhook in config["webhooks"]:
            service = webhook["clientConfig"]["service"]
            assert ("Service", service["namespace"], service["name"]) in index, service
            webhook_services.add((service["name"], service["namespace"]))
            assert f"{service['name']}.{service['namespace']}.svc" in serving["spec"]["dnsNames"]
    assert webhook_services
    for certificate in (o for o in objects if o["kind"] == "Certificate"):
        assert ("Issuer", namespace, certificate["spec"]["issuerRef"]["name"]) in index
    for binding in (o for o in objects if o["kind"] in ("RoleBinding", "ClusterRoleBinding")):
        for subject in binding["subjects"]:
            assert ("ServiceAccount", subject["namespace"], subject["name"]) in index
    assert all(o["metadata"].get("namespace") in (None, namespace) for o in objects)
    assert all(":" in c["image"] and not c["image"].endswith(":latest") for c in deployment["spec"]["template"]["spec"]["containers"])
