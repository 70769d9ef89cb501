"""Security and application metrics per stack: the login paths as a Traefik router of their own
(whose name the alerts and the Security dashboard match), the Laravel app's metrics route
(scraped through nginx, refused through the edge), and the dashboards and alerts held to what
the metrics judge can resolve (Traefik's real series, the exporters, the app contract)."""

from __future__ import annotations

import hashlib
import json
import re

import pytest
import yaml

from components.backend import routes as login_route
from components.monitoring import alerts as alert_rules
from components.monitoring import dashboards
from components.platform.isolation import NAMESPACES
from components.platform.network import SCRAPE_PORTS
from rehearsal.base import Build
from rehearsal.metrics import catalog, catalog_owner, uses
from tests.conftest import Synth

NEW_DASHBOARDS = ("security.json", "red-services.json", "app-usage.json")


def traefik_router_name(namespace: str, ingress_route: str, match: str) -> str:
    """How Traefik's CRD provider names the router of an IngressRoute route: traefik v3.7.9
    pkg/provider/kubernetes/crd/kubernetes.go `makeServiceKey` (name + first 10 hex digits of
    sha256(match)) and `makeID` (namespace prefix); the metrics qualify it with `@kubernetescrd`."""
    digest = hashlib.sha256(match.encode()).hexdigest()[:10]
    return f"{namespace}-{ingress_route}-{digest}@kubernetescrd"


def test_login_paths_are_a_router_of_their_own_that_the_alerts_match(stack: Synth) -> None:
    route = stack.object("IngressRoute", login_route.NAME, "saas-app")
    (entry,) = route["spec"]["routes"]
    domain = stack.outputs["domain"]
    assert entry["match"] == f"Host(`app.{domain}`) && (Path(`/login`) || Path(`/api/login`) || Path(`/api/auth/login`))"
    # Same services and middlewares (rate limit included) as the API's main route.
    main = stack.object("IngressRoute", "backend", "saas-app")["spec"]["routes"][-1]
    assert main["match"] == f"Host(`app.{domain}`)"
    assert entry["services"] == main["services"] and entry["middlewares"] == main["middlewares"]
    assert {"name": "rate-limit", "namespace": "saas-ingress"} in entry["middlewares"]
    name = traefik_router_name("saas-app", login_route.NAME, entry["match"])
    assert re.fullmatch(login_route.LOGIN_ROUTER_REGEX, name)
    # The main route's router is not a login router.
    assert not re.fullmatch(login_route.LOGIN_ROUTER_REGEX, traefik_router_name("saas-app", "backend", main["match"]))


def test_alerts_and_dashboard_use_the_login_router_regex_of_the_route() -> None:
    """No drift between components/backend/routes.py and the PromQL that reads its metrics."""
    rules = yaml.safe_load((alert_rules.ALERTS_DIR / "security.yaml").read_text())
    exprs = [r["expr"] for g in rules["groups"] for r in g["rules"]]
    dashboard = json.loads((dashboards.DASHBOARDS_DIR / "security.json").read_text())
    exprs += [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
    routers = {m for e in exprs for m in re.findall(r'router=~"([^"]+)"', e)}
    assert routers == {login_route.LOGIN_ROUTER_REGEX}
    assert any('code=~"401|422"' in e for e in exprs) and any('code="429"' in e for e in exprs)


def test_traefik_exposes_per_router_metrics(stack: Synth) -> None:
    prometheus = stack.release("traefik")["values"]["metrics"]["prometheus"]
    assert prometheus["addRoutersLabels"] is True and prometheus["addServicesLabels"] is True


def test_the_laravel_metrics_route_is_scraped_and_refused_through_the_edge(stack: Synth) -> None:
    monitor = stack.object("ServiceMonitor", "backend-web", "saas-app")
    assert {"port": "http", "path": "/metrics", "interval": "30s"} in monitor["spec"]["endpoints"]
    routes = stack.object("IngressRoute", "backend", "saas-app")["spec"]["routes"]
    (private,) = [r for r in routes if "Path(`/metrics`)" in r["match"]]
    assert private["middlewares"] == [{"name": "backend-internal-only", "namespace": "saas-app"}]
    assert private["priority"] > max(r.get("priority", 0) for r in routes if r is not private)
    guard = stack.object("Middleware", "backend-internal-only", "saas-app")
    assert guard["spec"] == {"ipAllowList": {"sourceRange": ["127.0.0.1/32"]}}
    # Prometheus may reach the web pods' HTTP port (the namespace's scrape ports).
    app = next(n for n in NAMESPACES if n.name == "saas-app")
    assert SCRAPE_PORTS["backend-web"] == 8080 and 8080 in app.scrape_ports


@pytest.mark.parametrize("file_name", NEW_DASHBOARDS)
def test_new_dashboards_are_deployed_and_read_by_the_metrics_judge(synthesized: dict[str, Synth], file_name: str) -> None:
    """Every stack deploys them, and every panel's query is among what the metrics judge checks."""
    dashboard = json.loads((dashboards.DASHBOARDS_DIR / file_name).read_text())
    panels = [p for p in dashboard["panels"] if p["type"] != "row"]
    for synth in synthesized.values():
        judged = {u.where.rsplit(" panel ", 1)[1] for u in uses(Build(synth.out)) if f":{file_name} panel " in u.where}
        assert judged == {repr(p["title"]) for p in panels}, synth.stack


def test_app_contract_metrics_resolve_to_the_contract_catalog_section() -> None:
    dashboard = json.loads((dashboards.DASHBOARDS_DIR / "app-usage.json").read_text())
    metrics = {m for p in dashboard["panels"] for t in p.get("targets", []) for m in re.findall(r"\b(app_[a-z_]+)\b", t["expr"])}
    assert metrics == {"app_user_logins_total", "app_user_signups_total", "app_active_users", "app_feature_used_total", "app_info"}
    assert {catalog_owner(m) for m in metrics} == {"app-contract"}
    entry = catalog()["app-contract"]
    # Marked as the project's own contract, not an upstream exporter; scraped on the apps' `http` port.
    assert entry["contract"] is True and "this project" in entry["source"]["repository"]
    assert entry["scraped_by"]["pods"]["port"] == "http"


def test_waf_blocks_are_documented_not_invented() -> None:
    """No Prometheus series exists for Cloudflare's WAF: the Security dashboard says where they are."""
    dashboard = json.loads((dashboards.DASHBOARDS_DIR / "security.json").read_text())
    exprs = " ".join(t["expr"] for p in dashboard["panels"] for t in p.get("targets", []))
    assert "cloudflare" not in exprs.lower() and "waf" not in exprs.lower()
    assert "Cloudflare" in dashboard["description"] and "Logpush" in dashboard["description"]
    assert any("security/events" in link["url"] for link in dashboard["links"])
    assert any(p["type"] == "row" and p["title"].startswith("WAF blocks") for p in dashboard["panels"])
