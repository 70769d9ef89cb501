"""ClusterPlatform: namespaces, network isolation, the three pinned releases, custom resources
validated against the upstream CRDs, and the outputs other components consume."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from components.platform import NAMESPACES, certificates, charts, keda, traefik
from components.platform.network import (
    DATA_CLIENT, DATA_PORTS, INGRESS_LABEL, PROMETHEUS_POD, ROLE_LABEL, SCRAPE_LABEL, SCRAPE_PORTS, data_ports,
    queue_ports,
)
from tests.conftest import Synth
from tests.upstream import (
    chart_schema_errors,
    chart_version,
    crd_errors,
    custom_resource_errors,
    require_upstream,
    unknown_value_paths,
)

CONCERNS = {"ingress", "app", "data", "monitoring", "cert-manager", "keda"}
RELEASES = {"traefik": charts.TRAEFIK, "cert-manager": charts.CERT_MANAGER, "keda": charts.KEDA}
HA = {"dev": False, "staging": True, "prod": True}


# ---- namespaces and isolation ---------------------------------------------------------------


def test_one_namespace_per_concern(stack: Synth) -> None:
    assert set(stack.outputs["namespaces"]) == CONCERNS
    names = {ns["metadata"]["name"] for ns in stack.objects("Namespace")}
    # Components add their own isolated namespaces (operators, logging) next to these.
    assert set(stack.outputs["namespaces"].values()) <= names


def test_namespaces_enforce_restricted_pod_security(stack: Synth) -> None:
    for concern in CONCERNS:
        labels = stack.object("Namespace", stack.outputs["namespaces"][concern])["metadata"]["labels"]
        for mode in ("enforce", "audit", "warn"):
            assert labels[f"pod-security.kubernetes.io/{mode}"] == "restricted", (concern, mode)
            assert labels[f"pod-security.kubernetes.io/{mode}-version"].startswith("v1.")


def test_every_namespace_denies_by_default_and_allows_dns(stack: Synth) -> None:
    for ns in stack.objects("Namespace"):
        name = ns["metadata"]["name"]
        deny = stack.object("NetworkPolicy", "default-deny", name)["spec"]
        assert deny["podSelector"] == {}
        assert sorted(deny["policyTypes"]) == ["Egress", "Ingress"]
        assert "ingress" not in deny and "egress" not in deny
        dns = stack.object("NetworkPolicy", "allow-dns", name)["spec"]
        assert dns["policyTypes"] == ["Egress"]
        (rule,) = dns["egress"]
        assert {(p["protocol"], p["port"]) for p in rule["ports"]} == {("UDP", 53), ("TCP", 53)}
        (peer,) = rule["to"]
        assert peer["namespaceSelector"]["matchLabels"] == {"kubernetes.io/metadata.name": "kube-system"}


def test_only_controllers_reach_the_kubernetes_api(stack: Synth) -> None:
    with_api = {ns["metadata"]["namespace"] for ns in stack.objects("NetworkPolicy") if ns["metadata"]["name"] == "allow-kubernetes-api"}
    # Platform controllers and the data operators; never the application or data namespaces.
    controllers = {"saas-ingress", "saas-cert-manager", "saas-keda", "saas-operators", "rabbitmq-system"}
    # Fluent Bit enriches log lines with pod metadata from the API (logs are on outside dev).
    assert with_api == controllers | ({"saas-logging"} if stack.stack != "dev" else set())
    rule = stack.object("NetworkPolicy", "allow-kubernetes-api", "saas-keda")["spec"]["egress"][0]
    assert {p["port"] for p in rule["ports"]} == {443, 6443}


def _peers(rule: dict[str, Any], key: str) -> list[dict[str, Any]]:
    return rule.get(key, [])


def test_traefik_reaches_only_labelled_app_pods(stack: Synth) -> None:
    entry = stack.object("NetworkPolicy", "traefik-entrypoints", "saas-ingress")["spec"]
    assert entry["podSelector"]["matchLabels"] == traefik.TRAEFIK_ROLE
    (rule,) = entry["ingress"]
    assert "from" not in rule  # the internet, through the LoadBalancer
    assert {p["port"] for p in rule["ports"]} == {traefik.WEB_PORT, traefik.WEBSECURE_PORT}

    backends = stack.object("NetworkPolicy", "traefik-backends", "saas-ingress")["spec"]
    targets = [peer for rule in backends["egress"] for peer in rule["to"]]
    assert {"podSelector": {"matchLabels": {INGRESS_LABEL: "traefik"}}}.items() <= targets[0].items()
    assert targets[0]["namespaceSelector"]["matchLabels"] == {"kubernetes.io/metadata.name": "saas-app"}
    # Besides labelled app pods, only HTTP-01 solver pods (where certificates are solved), on 8089.
    for rule in backends["egress"][1:]:
        assert [p["port"] for p in rule["ports"]] == [8089]
        assert rule["to"][0]["podSelector"]["matchLabels"] == {"acme.cert-manager.io/http01-solver": "true"}

    accept = stack.object("NetworkPolicy", "allow-traefik", "saas-app")["spec"]
    assert accept["podSelector"]["matchLabels"] == {INGRESS_LABEL: "traefik"}
    (peer,) = accept["ingress"][0]["from"]
    assert peer["podSelector"]["matchLabels"] == traefik.TRAEFIK_ROLE
    # The label the policies select Traefik by is the one the chart puts on Traefik's pods.
    assert traefik.TRAEFIK_ROLE.items() <= stack.release("traefik")["values"]["deployment"]["podLabels"].items()


def test_applications_reach_the_data_layer_on_its_ports_only(stack: Synth) -> None:
    out = stack.object("NetworkPolicy", "allow-data", "saas-app")["spec"]
    assert out["policyTypes"] == ["Egress"]
    # Only the backend workloads: the frontend, Mailpit and solver pods open no data connection.
    assert out["podSelector"]["matchLabels"] == DATA_CLIENT
    (rule,) = out["egress"]
    # data.tls (staging, prod): AMQPS 5671 instead of AMQP 5672.
    tls = stack.stack != "dev"
    assert {p["port"] for p in rule["ports"]} == set(data_ports(tls))
    assert (5671 in set(data_ports(tls))) is tls and (5672 in set(data_ports(tls))) is not tls
    assert rule["to"] == [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "saas-data"}}}]
    accept = stack.object("NetworkPolicy", "allow-app", "saas-data")["spec"]
    # Not 3306: DataLayer's allow-app-to-mariadb admits the database port on MariaDB or, in
    # medium/large, on MaxScale only (tests/test_maxscale.py); AMQPS instead of AMQP with data.tls.
    assert {p["port"] for p in accept["ingress"][0]["ports"]} == set(data_ports(tls)) - {DATA_PORTS["mariadb"]}
    assert accept["ingress"][0]["from"][0]["podSelector"]["matchLabels"] == DATA_CLIENT
    keda_in = stack.object("NetworkPolicy", "allow-keda", "saas-data")["spec"]["ingress"][0]
    assert {p["port"] for p in keda_in["ports"]} == set(queue_ports(tls))
    assert keda_in["from"][0]["podSelector"]["matchLabels"] == keda.OPERATOR_ROLE


def test_prometheus_scrapes_only_labelled_pods(stack: Synth) -> None:
    """Only Prometheus (not Grafana or any other monitoring pod), only on the metrics ports."""
    scrape = stack.object("NetworkPolicy", "prometheus-scrape", "saas-monitoring")["spec"]
    assert scrape["podSelector"]["matchLabels"] == PROMETHEUS_POD
    (rule,) = scrape["egress"]
    assert rule["to"] == [{"namespaceSelector": {}, "podSelector": {"matchLabels": {SCRAPE_LABEL: "true"}}}]
    assert {p["port"] for p in rule["ports"]} == set(SCRAPE_PORTS.values())
    # Each namespace admits Prometheus only on the metrics ports its own pods serve: a union
    # would open, say, the backend's nginx (8080) or Traefik's API entry point to Prometheus.
    by_namespace = {spec.name: set(spec.scrape_ports) for spec in NAMESPACES}
    for ns in stack.objects("Namespace"):
        name = ns["metadata"]["name"]
        if not by_namespace.get(name):
            assert not [o for o in stack.objects("NetworkPolicy") if o["metadata"]["name"] == "allow-prometheus" and o["metadata"]["namespace"] == name], name
            continue
        allow = stack.object("NetworkPolicy", "allow-prometheus", name)["spec"]
        assert allow["podSelector"]["matchLabels"] == {SCRAPE_LABEL: "true"}
        (peer,) = allow["ingress"][0]["from"]
        assert peer["namespaceSelector"]["matchLabels"] == {"kubernetes.io/metadata.name": "saas-monitoring"}
        assert peer["podSelector"]["matchLabels"] == PROMETHEUS_POD
        assert {p["port"] for p in allow["ingress"][0]["ports"]} == by_namespace[name]
    assert set().union(*by_namespace.values()) == set(SCRAPE_PORTS.values())


def test_scrape_ports_cover_every_scraped_pod(stack: Synth) -> None:
    """Every scrape-labelled pod in the manifests exposes its metrics on a port Prometheus may
    use in its own namespace."""
    by_namespace = {spec.name: set(spec.scrape_ports) for spec in NAMESPACES}
    for obj in stack.objects("Deployment"):
        template = obj["spec"]["template"]
        if template["metadata"].get("labels", {}).get(SCRAPE_LABEL) != "true":
            continue
        exposed = {p["containerPort"] for c in template["spec"]["containers"] for p in c.get("ports", [])}
        assert exposed & by_namespace.get(obj["metadata"]["namespace"], set()), obj["metadata"]["name"]


def test_traefik_reaches_every_backend_it_routes_to(stack: Synth) -> None:
    """A route into another namespace needs Traefik's egress as well as the backend's ingress:
    for every IngressRoute service, a policy in saas-ingress lets Traefik's pods reach it."""
    egress = [
        rule for policy in stack.objects("NetworkPolicy", "saas-ingress")
        if policy["spec"]["podSelector"].get("matchLabels") == traefik.TRAEFIK_ROLE
        for rule in policy["spec"].get("egress", [])
    ]
    def reaches(namespace: str, port: int) -> bool:
        return any(
            peer.get("namespaceSelector", {}).get("matchLabels") == {"kubernetes.io/metadata.name": namespace}
            and ("ports" not in rule or port in {p["port"] for p in rule["ports"]})
            for rule in egress for peer in rule.get("to", [])
        )
    routes = stack.objects("IngressRoute")
    assert routes
    for route in routes:
        namespace = route["metadata"]["namespace"]
        for entry in route["spec"]["routes"]:
            for service in entry.get("services", []):
                if service.get("kind") == "TraefikService":
                    continue
                # The Service's target port: the same number here (chart/operator Services map 1:1).
                port = service["port"] if isinstance(service["port"], int) else 0
                if namespace == "saas-app":
                    continue  # app backends are admitted by their ingress label
                if namespace == "saas-monitoring":
                    port = 3000  # Service kps-grafana:80 -> the Grafana pod's 3000
                assert reaches(namespace, port), (route["metadata"]["name"], namespace, port)


def test_alertmanager_reaches_the_mail_relay(stack: Synth) -> None:
    """In dev the relay is Mailpit on 1025 (no submission port): Alertmanager's egress opens it."""
    notify = stack.object("NetworkPolicy", "allow-alertmanager-notify", "saas-monitoring")["spec"]
    opened = {p["port"] for p in notify["egress"][0]["ports"]}
    assert stack.outputs["mailRelay"]["port"] in opened


def test_cert_manager_egress_is_acme_dns_apis_and_resolvers_only(stack: Synth) -> None:
    spec = stack.object("NetworkPolicy", "controller-egress", "saas-cert-manager")["spec"]
    assert spec["podSelector"]["matchLabels"] == certificates.CONTROLLER_ROLE
    web, dns, _traefik = spec["egress"]
    assert {p["port"] for p in web["ports"]} == {80, 443}
    v4 = next(p["ipBlock"] for p in web["to"] if p["ipBlock"]["cidr"] == "0.0.0.0/0")
    assert {"10.0.0.0/8", "169.254.0.0/16"} <= set(v4["except"])  # not pods, not cloud metadata
    assert {p["ipBlock"]["cidr"] for p in dns["to"]} == {"1.1.1.1/32", "1.0.0.1/32"}
    assert certificates.CONTROLLER_ROLE.items() <= stack.release("cert-manager")["values"]["podLabels"].items()


def test_acme_solver_traffic_only_where_acme_is_used(stack: Synth) -> None:
    """cert-manager starts HTTP-01 solver pods in the namespace of the Certificate being solved:
    the platform's Certificates live in saas-ingress, applications' in saas-app."""
    for namespace in ("saas-app", "saas-ingress"):
        solver = [p for p in stack.objects("NetworkPolicy", namespace) if p["metadata"]["name"] == "allow-acme-http01-solver"]
        assert bool(solver) == (stack.stack != "dev"), namespace
    for certificate in stack.objects("Certificate"):
        if certificate["spec"]["issuerRef"]["name"].startswith("letsencrypt"):
            assert certificate["metadata"]["namespace"] in ("saas-app", "saas-ingress")


# ---- releases --------------------------------------------------------------------------------


def test_releases_are_pinned_to_the_validated_upstream_versions(stack: Synth) -> None:
    require_upstream()
    for name, pin in RELEASES.items():
        release = stack.release(name)
        assert release["chart"] == pin.chart
        assert release["version"] == pin.version == chart_version(pin.chart), name
        assert release["repositoryOpts"]["repo"] == pin.repo
    assert stack.release("traefik")["namespace"] == "saas-ingress"
    assert stack.release("cert-manager")["namespace"] == "saas-cert-manager"
    assert stack.release("keda")["namespace"] == "saas-keda"


def test_chart_repositories_are_the_upstream_ones() -> None:
    assert charts.TRAEFIK.repo == "https://traefik.github.io/charts"
    assert charts.CERT_MANAGER.repo == "https://charts.jetstack.io"
    assert charts.KEDA.repo == "https://kedacore.github.io/charts"


def test_controllers_are_redundant_outside_development(stack: Synth) -> None:
    ha = HA[stack.stack]
    t = stack.release("traefik")["values"]
    assert t["deployment"]["replicas"] == {"dev": 1, "staging": 2, "prod": 3}[stack.stack]
    assert t["podDisruptionBudget"]["enabled"] is ha
    assert bool(t["topologySpreadConstraints"]) is ha
    cm = stack.release("cert-manager")["values"]
    for part in (cm, cm["webhook"], cm["cainjector"]):
        assert part["replicaCount"] == (2 if ha else 1)
        assert part["podDisruptionBudget"]["enabled"] is ha
    k = stack.release("keda")["values"]
    assert k["operator"]["replicaCount"] == (2 if ha else 1)
    assert ("minAvailable" in k["podDisruptionBudget"]["operator"]) is ha


def test_every_platform_container_has_resources_and_a_restricted_security_context(stack: Synth) -> None:
    t = stack.release("traefik")["values"]
    cm = stack.release("cert-manager")["values"]
    k = stack.release("keda")["values"]
    resources = [t["resources"], cm["resources"], cm["webhook"]["resources"], cm["cainjector"]["resources"],
                 cm["startupapicheck"]["resources"], *k["resources"].values()]
    for r in resources:
        assert r["requests"]["cpu"] and r["requests"]["memory"] and r["limits"]["memory"], r
    containers = [t["securityContext"], cm["containerSecurityContext"], cm["webhook"]["containerSecurityContext"],
                  cm["cainjector"]["containerSecurityContext"], cm["startupapicheck"]["containerSecurityContext"],
                  *k["securityContext"].values()]
    for c in containers:
        assert c["allowPrivilegeEscalation"] is False and c["readOnlyRootFilesystem"] is True
        assert c["capabilities"]["drop"] == ["ALL"]
    pods = [t["podSecurityContext"], cm["securityContext"], cm["webhook"]["securityContext"],
            cm["cainjector"]["securityContext"], *k["podSecurityContext"].values()]
    for p in pods:
        assert p["runAsNonRoot"] is True and p["seccompProfile"] == {"type": "RuntimeDefault"}


def test_cert_manager_installs_its_crds_and_checks_propagation_publicly(stack: Synth) -> None:
    values = stack.release("cert-manager")["values"]
    assert values["crds"] == {"enabled": True, "keep": True}
    assert values["dns01RecursiveNameservers"] == "1.1.1.1:53,1.0.0.1:53"
    assert values["dns01RecursiveNameserversOnly"] is True
    assert values["global"]["leaderElection"]["namespace"] == "saas-cert-manager"
    assert values["prometheus"]["enabled"] is True
    assert stack.release("keda")["values"]["crds"]["install"] is True


def test_chart_values_pass_the_upstream_schemas(stack: Synth) -> None:
    require_upstream()
    assert chart_schema_errors("traefik", stack.release("traefik")["values"]) == []
    assert chart_schema_errors("cert-manager", stack.release("cert-manager")["values"]) == []
    assert unknown_value_paths("keda", stack.release("keda")["values"], free_form=keda.FREE_FORM) == []


def test_chart_value_checks_catch_typos(synthesized: dict[str, Synth]) -> None:
    require_upstream()
    prod = synthesized["prod"]
    bad_traefik = copy.deepcopy(prod.release("traefik")["values"])
    bad_traefik["providers"]["kubernetesCRD"]["allowCrossNamespaces"] = True
    assert any("allowCrossNamespaces" in e for e in chart_schema_errors("traefik", bad_traefik))
    bad_cm = copy.deepcopy(prod.release("cert-manager")["values"])
    bad_cm["replicaCount"] = "two"
    assert chart_schema_errors("cert-manager", bad_cm)
    bad_keda = copy.deepcopy(prod.release("keda")["values"])
    bad_keda["operator"]["replicas"] = 2
    assert unknown_value_paths("keda", bad_keda, free_form=keda.FREE_FORM) == ["operator.replicas"]


# ---- custom resources ------------------------------------------------------------------------


def test_every_custom_resource_matches_its_upstream_crd(stack: Synth) -> None:
    checked, errors = custom_resource_errors(m for _, m in stack.manifests())
    assert checked >= 9  # 5 Middlewares, TLSOption, TLSStore, issuers, certificates
    assert errors == []


def test_crd_validation_catches_a_typo_in_our_resources(synthesized: dict[str, Synth]) -> None:
    require_upstream()
    middleware = copy.deepcopy(synthesized["prod"].object("Middleware", "security-headers", "saas-ingress"))
    middleware["spec"]["headers"]["stsSecond"] = 60
    assert any("stsSecond" in e for e in crd_errors(middleware))
    issuer = copy.deepcopy(synthesized["prod"].object("ClusterIssuer", "letsencrypt-production"))
    issuer["spec"]["acme"]["solvers"][0]["dns01"]["cloudflare"]["apiTokenSecret"] = {"name": "x", "key": "y"}
    assert crd_errors(issuer)


_CRD_TYPES = {
    "kubernetes:traefik.io/v1alpha1:": "traefik",
    "kubernetes:cert-manager.io/v1:": "cert-manager",
    "kubernetes:keda.sh/v1alpha1:": "keda",
}


def test_custom_resources_depend_on_the_release_that_installs_their_crds(stack: Synth) -> None:
    releases = {r["name"]: r["urn"] for r in stack.of_type("kubernetes:helm.sh/v3:Release")}
    by_urn = {r["urn"]: r for r in stack.resources}
    checked = 0
    for resource in stack.resources:
        deps = set(resource["dependencies"])
        group = by_urn.get(resource["parent"] or "")
        if group and group["type"] in ("kubernetes:yaml/v2:ConfigGroup", "kubernetes:yaml/v2:ConfigFile"):
            # The provider creates a yaml/v2 group's objects once the group's dependencies are
            # done (pulumi-kubernetes provider/pkg/provider/yaml/v2/configgroup.go, v4.32.0).
            deps |= set(group["dependencies"])
        for prefix, release in _CRD_TYPES.items():
            if resource["type"].startswith(prefix):
                assert releases[release] in deps, resource["urn"]
                checked += 1
    assert checked >= 9


def test_route53_solver_matches_the_crd() -> None:
    require_upstream()
    spec = certificates.acme_issuer_spec("production", "ops@example.com", "route53", "example.com", "traefik")
    issuer = {"apiVersion": "cert-manager.io/v1", "kind": "ClusterIssuer", "metadata": {"name": "le"}, "spec": spec}
    assert crd_errors(issuer) == []
    route53 = spec["acme"]["solvers"][0]["dns01"]["route53"]
    assert route53["accessKeyIDSecretRef"]["key"] == "access-key-id"
    assert route53["secretAccessKeySecretRef"]["key"] == "secret-access-key"
    with pytest.raises(ValueError):
        certificates.dns01_solver("none", "example.com")


# ---- outputs other components consume ---------------------------------------------------------


def test_outputs_for_other_components(stack: Synth) -> None:
    assert stack.outputs["loadBalancerAddress"] == "203.0.113.10"  # read back from Traefik's Service
    assert stack.outputs["clusterIssuer"] == ("dev-ca" if stack.stack == "dev" else "letsencrypt-production")
    assert stack.outputs["adminPassword"] == "[secret]"


def test_namespace_specs_cover_every_concern() -> None:
    assert {spec.concern for spec in NAMESPACES} == CONCERNS
    assert ROLE_LABEL.startswith("networking.saas-platform.io/")


# ---- the helper other components use for their operators' namespaces -------------------------

OPERATOR_PROGRAM = """
import pulumi
from components import config
from components.platform import ClusterPlatform, ClusterPlatformArgs

class Operators(pulumi.ComponentResource):
    def __init__(self, name, platform):
        super().__init__("saas-platform:index:Operators", name, None, None)
        self.ns = platform.isolated_namespace(
            "saas-db-operator", "mariadb-operator", parent=self, kubernetes_api=True, scrape_ports=[8080]
        )
        self.register_outputs({})

platform = ClusterPlatform("platform", ClusterPlatformArgs(config=config.load()))
operators = Operators("operators", platform)
pulumi.export("operatorNamespace", operators.ns.name)
"""


def test_isolated_namespace_helper_for_other_components(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from tests.conftest import run_synth

    program = tmp_path / "operators.py"
    program.write_text(OPERATOR_PROGRAM)
    proc = run_synth("dev", tmp_path / "out", "--program", str(program))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    synth = Synth.load("dev", tmp_path / "out", proc)
    assert synth.outputs["operatorNamespace"] == "saas-db-operator"
    policies = {p["metadata"]["name"] for p in synth.objects("NetworkPolicy", "saas-db-operator")}
    assert policies == {"default-deny", "allow-dns", "allow-kubernetes-api", "allow-prometheus"}
    namespace = next(r for r in synth.resources if r["type"] == "kubernetes:core/v1:Namespace" and r["name"] == "saas-db-operator")
    assert namespace["parent"].endswith("saas-platform:index:Operators::operators")
    # The stack rule sees the new namespace's default-deny too.
    assert not [f for f in synth.findings if f["policy"] == "k8s-namespace-default-deny"]


def test_traefik_on_node_ports_for_a_laptop_cluster_without_a_load_balancer() -> None:
    """kind has no LoadBalancer implementation and k3d's ServiceLB only serves what the host
    ports map: with `ingress.serviceType: NodePort` Helm does not wait for a load balancer
    address (pulumi-kubernetes helm_release.go `Wait`, Helm pkg/kube/ready.go serviceReady
    waits for `status.loadBalancer.ingress` on LoadBalancer Services only)."""
    values = traefik.values(
        environment="development", edge_dns="none", namespace="saas-ingress", read_timeout_seconds=600,
        service_type="NodePort", node_ports=(30080, 30443),
    )
    assert values["service"]["spec"]["type"] == "NodePort"
    assert (values["ports"]["web"]["nodePort"], values["ports"]["websecure"]["nodePort"]) == (30080, 30443)
    assert chart_schema_errors("traefik", values) == []
    default = traefik.values(environment="development", edge_dns="none", namespace="saas-ingress", read_timeout_seconds=600)
    assert default["service"]["spec"]["type"] == "LoadBalancer" and "nodePort" not in default["ports"]["web"]


def test_client_addresses_survive_the_cloud_load_balancer(stack: Synth) -> None:
    """Review item 14: EKS gives a LoadBalancer Service a Classic ELB unless told otherwise; it
    proxies TCP, so Traefik sees ELB addresses (untrusted for X-Forwarded-For) and the per-IP
    rate limit keys on a handful of them. Outside dev the Service asks for an NLB, which with
    externalTrafficPolicy Local passes the client address through."""
    service = stack.release("traefik")["values"]["service"]
    assert service["spec"]["externalTrafficPolicy"] == "Local"
    expected = {} if stack.stack == "dev" else {"service.beta.kubernetes.io/aws-load-balancer-type": "nlb"}
    assert service["annotations"] == expected
    assert traefik.load_balancer_annotations("production", {}) == {}  # `{}` opts out


def test_cert_manager_self_check_reaches_traefik(stack: Synth) -> None:
    """Review item 15: the HTTP-01 self-check to the load balancer's IP is short-circuited by
    kube-proxy to a Traefik pod, a private address the public-internet rule excludes."""
    spec = stack.object("NetworkPolicy", "controller-egress", "saas-cert-manager")["spec"]
    to_traefik = [r for r in spec["egress"] if any(p.get("podSelector", {}).get("matchLabels") == traefik.TRAEFIK_ROLE for p in r["to"])]
    assert [[p["port"] for p in r["ports"]] for r in to_traefik] == [[traefik.WEB_PORT]]
