"""Traefik ingress and TLS per stack: redirects, trusted proxies, timeouts, logs, metrics, the
single LoadBalancer, the shared Middlewares, the issuers and the wildcard default certificate."""

from __future__ import annotations

from components import config
from components.platform import certificates, traefik
from tests.conftest import Synth

CLOUDFLARE = {"dev": False, "staging": True, "prod": True}


def test_http_redirects_to_https_but_lets_acme_challenges_through(stack: Synth) -> None:
    web = stack.release("traefik")["values"]["ports"]["web"]
    redirect = web["http"]["redirections"]["entryPoint"]
    assert redirect["to"] == "websecure" and redirect["scheme"] == "https" and redirect["permanent"] is True
    # Lowest priority: cert-manager's solver routes (longer, exact paths) win on port 80.
    assert redirect["priority"] == 1
    assert web["allowACMEByPass"] is True
    assert stack.release("traefik")["values"]["ports"]["websecure"]["http"]["tls"]["enabled"] is True


def test_upload_read_timeout_is_raised(stack: Synth) -> None:
    ports = stack.release("traefik")["values"]["ports"]
    for entry in ("web", "websecure"):
        assert ports[entry]["transport"]["respondingTimeouts"]["readTimeout"] == "600s"


def test_forwarded_headers_trusted_only_from_cloudflare_behind_cloudflare(stack: Synth) -> None:
    ports = stack.release("traefik")["values"]["ports"]
    expected = traefik.cloudflare_ranges() if CLOUDFLARE[stack.stack] else []
    for entry in ("web", "websecure"):
        assert ports[entry]["forwardedHeaders"] == {"trustedIPs": expected, "insecure": False}
    rate = stack.object("Middleware", "rate-limit", "saas-ingress")["spec"]["rateLimit"]
    if CLOUDFLARE[stack.stack]:
        assert rate["sourceCriterion"]["ipStrategy"]["excludedIPs"] == expected
    else:
        assert "sourceCriterion" not in rate  # the peer address is the client


def test_cloudflare_ranges_file_names_its_source_and_date() -> None:
    import ipaddress
    import json

    data = json.loads(traefik.CLOUDFLARE_IPS_FILE.read_text())
    assert all(url.startswith("https://www.cloudflare.com/ips-v") for url in data["source"])
    assert data["as_of"]
    assert data["ipv4"] and data["ipv6"]
    for cidr in traefik.cloudflare_ranges():
        ipaddress.ip_network(cidr, strict=True)
    assert traefik.trusted_proxies("route53") == [] and traefik.trusted_proxies("none") == []


def test_json_logs_access_logs_and_prometheus_metrics(stack: Synth) -> None:
    values = stack.release("traefik")["values"]
    assert values["log"]["format"] == "json"
    assert values["accessLog"]["enabled"] is True and values["accessLog"]["format"] == "json"
    assert values["accessLog"]["fields"]["headers"]["defaultMode"] == "drop"  # cookies, tokens
    assert values["metrics"]["prometheus"]["entryPoint"] == "metrics"
    assert values["deployment"]["podLabels"]["networking.saas-platform.io/scrape"] == "true"


def test_traefik_is_the_only_load_balancer(stack: Synth) -> None:
    values = stack.release("traefik")["values"]
    spec = dict(values["service"]["spec"])
    # Behind Cloudflare only Cloudflare may reach it (tests/test_edge_dns.py checks the ranges).
    spec.pop("loadBalancerSourceRanges", None)
    assert spec == {"type": "LoadBalancer", "externalTrafficPolicy": "Local"}
    exposed = [s for s in stack.objects("Service") if s["spec"].get("type") in ("LoadBalancer", "NodePort")]
    assert exposed == []
    for name in ("cert-manager", "keda"):
        assert "LoadBalancer" not in str(stack.release(name)["values"])
    assert not [f for f in stack.findings if f["policy"] == "k8s-no-exposed-services"]


def test_cross_namespace_middlewares_and_tls_defaults_confined_to_traefiks_namespace(stack: Synth) -> None:
    values = stack.release("traefik")["values"]
    crd = values["providers"]["kubernetesCRD"]
    assert crd["allowCrossNamespace"] is True
    assert crd["defaultTLSResourcesNamespace"] == "saas-ingress"
    assert values["core"]["strictTLSOptions"] is True


def test_tls_12_minimum_and_the_wildcard_as_default_certificate(stack: Synth) -> None:
    option = stack.object("TLSOption", "default", "saas-ingress")["spec"]
    assert option["minVersion"] == "VersionTLS12"
    assert all("_GCM_" in c or "CHACHA20" in c for c in option["cipherSuites"])
    store = stack.object("TLSStore", "default", "saas-ingress")["spec"]
    wildcard = stack.object("Certificate", "wildcard", "saas-ingress")["spec"]
    assert store["defaultCertificate"]["secretName"] == wildcard["secretName"]
    domain = {"dev": "saas.localhost", "staging": "example.net", "prod": "example.com"}[stack.stack]
    assert wildcard["dnsNames"] == [domain, f"*.{domain}"]
    assert wildcard["issuerRef"] == {"name": stack.outputs["clusterIssuer"], "kind": "ClusterIssuer", "group": "cert-manager.io"}


def test_development_uses_a_self_signed_ca(synthesized: dict[str, Synth]) -> None:
    dev = synthesized["dev"]
    names = {i["metadata"]["name"]: i["spec"] for i in dev.objects("ClusterIssuer")}
    assert names == {"selfsigned-bootstrap": {"selfSigned": {}}, "dev-ca": {"ca": {"secretName": "dev-root-ca"}}}
    ca = dev.object("Certificate", "dev-root-ca", "saas-cert-manager")["spec"]
    assert ca["isCA"] is True and ca["issuerRef"]["name"] == "selfsigned-bootstrap"
    assert not [i for i in dev.objects("ClusterIssuer") if "acme" in i["spec"]]


def test_staging_and_production_use_lets_encrypt_with_dns01_for_the_wildcard(stack: Synth) -> None:
    if stack.stack == "dev":
        return
    domain = {"staging": "example.net", "prod": "example.com"}[stack.stack]
    issuers = {i["metadata"]["name"]: i["spec"]["acme"] for i in stack.objects("ClusterIssuer") if "acme" in i["spec"]}
    assert set(issuers) == {"letsencrypt-production", "letsencrypt-staging"}
    # The only other issuer is the private CA of encryption in transit (docs/operations.md).
    private = {i["metadata"]["name"]: i["spec"] for i in stack.objects("ClusterIssuer") if "acme" not in i["spec"]}
    assert private == {"data-ca": {"ca": {"secretName": "data-root-ca"}}}
    assert issuers["letsencrypt-production"]["server"] == "https://acme-v02.api.letsencrypt.org/directory"
    assert "acme-staging-v02" in issuers["letsencrypt-staging"]["server"]
    for acme in issuers.values():
        dns01, http01 = acme["solvers"]
        assert dns01["selector"] == {"dnsNames": [domain, f"*.{domain}"]}
        assert dns01["dns01"]["cloudflare"]["apiTokenSecretRef"] == {"name": "dns01-credentials", "key": "api-token"}
        assert http01 == {"http01": {"ingress": {"ingressClassName": "traefik"}}}
        assert acme["email"] == f"hostmaster@{domain}"


def test_dns01_secret_lives_in_cert_managers_namespace() -> None:
    assert certificates.DNS01_SECRET == "dns01-credentials"


def test_security_headers(stack: Synth) -> None:
    headers = stack.object("Middleware", "security-headers", "saas-ingress")["spec"]["headers"]
    assert headers["stsSeconds"] >= (300 if stack.stack == "dev" else 31_536_000)
    assert headers["stsIncludeSubdomains"] is True and headers["forceSTSHeader"] is True
    assert headers["contentTypeNosniff"] is True and headers["frameDeny"] is True
    assert headers["referrerPolicy"] == "strict-origin-when-cross-origin"
    assert headers["stsPreload"] is (stack.stack == "prod")


def test_shared_middlewares_exist_with_their_contract_names(stack: Synth) -> None:
    names = {m["metadata"]["name"] for m in stack.objects("Middleware", "saas-ingress")}
    assert names == set(traefik.MIDDLEWARE_NAMES)
    assert stack.object("Middleware", "https-redirect", "saas-ingress")["spec"] == {
        "redirectScheme": {"scheme": "https", "permanent": True}
    }
    assert "compress" in stack.object("Middleware", "compression", "saas-ingress")["spec"]
    rate = stack.object("Middleware", "rate-limit", "saas-ingress")["spec"]["rateLimit"]
    assert (rate["average"], rate["burst"], rate["period"]) == (50, 100, "1s")


def test_admin_guard_uses_a_generated_basic_auth_secret(stack: Synth) -> None:
    guard = stack.object("Middleware", "admin-guard", "saas-ingress")["spec"]["basicAuth"]
    assert guard["removeHeader"] is True
    secret = stack.object("Secret", guard["secret"], "saas-ingress")
    assert secret["stringData"] == "[secret]" or secret["stringData"]["users"] == "[secret]"
    assert stack.of_type("random:index/randomPassword:RandomPassword")


def test_admin_guard_allow_list_and_rate_limit_follow_config() -> None:
    raw = config.IngressSection.model_validate(
        {"rateLimit": {"average": 5, "burst": 20}, "adminGuard": {"mode": "allowList", "allowList": ["203.0.113.0/24"]}}
    )
    specs = traefik.middleware_specs(
        environment="production",
        edge_dns="cloudflare",
        rate_average=raw.rateLimit.average,
        rate_burst=raw.rateLimit.burst,
        admin_mode=raw.adminGuard.mode,
        admin_allow_list=raw.adminGuard.allowList,
    )
    assert specs["rate-limit"]["rateLimit"]["average"] == 5 and specs["rate-limit"]["rateLimit"]["burst"] == 20
    allow = specs["admin-guard"]["ipAllowList"]
    assert allow["sourceRange"] == ["203.0.113.0/24"]
    assert allow["ipStrategy"]["excludedIPs"] == traefik.cloudflare_ranges()


def test_admin_guard_allow_list_matches_the_crd() -> None:
    from tests.upstream import crd_errors, require_upstream

    require_upstream()
    spec = traefik.admin_guard("allowList", ["203.0.113.0/24"], "cloudflare")
    middleware = {"apiVersion": "traefik.io/v1alpha1", "kind": "Middleware", "metadata": {"name": "admin-guard"}, "spec": spec}
    assert crd_errors(middleware) == []
