"""The apps judge: the frontend and Laravel web pods played from their Deployment specs.

The Laravel behaviour the fixture encodes is laravel/framework v11.x (`config/view.php`
`view.compiled`, `View/Compilers/Compiler.php` "Please provide a valid cache path.",
`Foundation/PackageManifest.php` "must be present and writable", `ApplicationBuilder` health
route rendering a Blade view for `Accept: */*`); GNU coreutils `cp -a` fails (exit 1) when it
cannot preserve the times of a target directory it does not own, such as an emptyDir (root-owned,
group fsGroup, as the kubelet creates it).
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any, Callable

import pytest
import yaml

from rehearsal.apps import judge
from rehearsal.base import Build
from tests.conftest import ROOT, STACKS, Synth
from tests.test_rehearsal_routing import release_variant  # noqa: F401 - a session fixture shared with the routing tests

BASELINE = ROOT / "tests" / "fixtures" / "rehearsal" / "main-934f607"
STORAGE_DIRS = "storage/framework/views storage/framework/cache/data storage/framework/sessions storage/logs"


def _copy(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


def _edit(path: Path, change: Callable[[Any], None]) -> None:
    body = yaml.safe_load(path.read_text())
    change(body)
    path.write_text(yaml.safe_dump(body))


def _web(manifests: Path) -> Path:
    return manifests / "saas-app" / "Deployment-backend-web.yaml"


def _pod(body: dict[str, Any]) -> dict[str, Any]:
    return body["spec"]["template"]["spec"]


def _container(body: dict[str, Any], name: str) -> dict[str, Any]:
    return next(c for c in _pod(body)["containers"] if c["name"] == name)


# -- today's main ----------------------------------------------------------------------------------
@pytest.mark.parametrize("stack", STACKS)
def test_baseline_reports_the_laravel_pod_that_never_gets_ready(stack: str) -> None:
    verdict = judge(Build(BASELINE / stack))
    assert verdict.exit_code == 1
    assert any(
        f.startswith("Deployment saas-app/backend-web") and "the pod never gets Ready" in f for f in verdict.findings
    ), verdict.findings
    # The frontend's scripts are sent to static.<domain>, which nothing serves.
    assert any("loads https://static." in f and "/_next/static/" in f and ": 404" in f for f in verdict.findings)


def test_baseline_storage_empty_dir_hides_the_compiled_views(tmp_path: Path) -> None:
    """Past the init container (cp without -a), /up still answers 500: storage/framework/views is gone."""
    build_dir = _copy(BASELINE / "dev", tmp_path / "build")

    def plain_cp(body: dict[str, Any]) -> None:
        init = _pod(body)["initContainers"][0]
        init["command"][-1] = init["command"][-1].replace("cp -a", "cp -R")

    _edit(_web(build_dir / "manifests"), plain_cp)
    findings = judge(Build(build_dir)).findings
    assert any("startupProbe fails: HTTP 500" in f and "Please provide a valid cache path" in f for f in findings), findings


def test_the_judge_passes_on_the_stack(stack: Synth) -> None:
    verdict = judge(Build(stack.out))
    assert verdict.findings == [], verdict.summary


# -- a repaired copy of today's dev, and mutations of it ---------------------------------------------
@pytest.fixture(scope="module")
def repaired(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Today's dev with the review's fixes applied by hand: the storage tree recreated by the init
    container (without `cp -a`), no static.<domain> asset host, the Reverb settings for the browser."""
    build_dir = _copy(BASELINE / "dev", tmp_path_factory.mktemp("apps") / "repaired")
    manifests = build_dir / "manifests"

    def seed_storage(body: dict[str, Any]) -> None:
        init = _pod(body)["initContainers"][0]
        dirs = " ".join(f"/var/www/html/{d}" for d in STORAGE_DIRS.split())
        init["command"][-1] = f"cp -R /var/www/html/public/. /srv/public/ && mkdir -p {dirs}"

    _edit(_web(manifests), seed_storage)
    _edit(manifests / "saas-app" / "ConfigMap-backend-config.yaml", lambda b: b["data"].pop("ASSET_URL"))

    def frontend_settings(body: dict[str, Any]) -> None:
        body["data"].pop("ASSET_PREFIX")
        body["data"].update(REVERB_APP_KEY="app-key", REVERB_HOST="app.saas.localhost", REVERB_PORT="443",
                            REVERB_SCHEME="https")  # fmt: skip

    _edit(manifests / "saas-app" / "ConfigMap-frontend-config.yaml", frontend_settings)
    return build_dir


def test_the_repaired_baseline_passes(repaired: Path) -> None:
    verdict = judge(Build(repaired))
    assert verdict.findings == [], verdict.findings
    assert "backend /up 1/1" in verdict.summary and "frontend assets" in verdict.summary


def _mutate(repaired: Path, tmp_path: Path, change: Callable[[Path], None]) -> list[str]:
    build_dir = _copy(repaired, tmp_path / "mutated")
    change(build_dir / "manifests")
    verdict = judge(Build(build_dir))
    assert verdict.exit_code == 1
    return verdict.findings


def test_mutation_dropping_the_init_container(repaired: Path, tmp_path: Path) -> None:
    findings = _mutate(repaired, tmp_path, lambda m: _edit(_web(m), lambda b: _pod(b).pop("initContainers")))
    assert any("Please provide a valid cache path" in f for f in findings), findings


def test_mutation_dropping_the_bootstrap_cache_mount(repaired: Path, tmp_path: Path) -> None:
    def unmount(body: dict[str, Any]) -> None:
        php = _container(body, "php-fpm")
        php["volumeMounts"] = [m for m in php["volumeMounts"] if m["name"] != "bootstrap-cache"]

    findings = _mutate(repaired, tmp_path, lambda m: _edit(_web(m), unmount))
    assert any("bootstrap/cache directory must be present and writable" in f for f in findings), findings


def test_mutation_a_frontend_probe_path_the_app_does_not_serve(repaired: Path, tmp_path: Path) -> None:
    def reprobe(body: dict[str, Any]) -> None:
        _pod(body)["containers"][0]["readinessProbe"]["httpGet"]["path"] = "/healthz"

    findings = _mutate(repaired, tmp_path, lambda m: _edit(m / "saas-app" / "Deployment-frontend.yaml", reprobe))
    assert any("Deployment saas-app/frontend" in f and "readinessProbe fails: HTTP 404" in f for f in findings)


def test_mutation_dropping_the_frontend_route(repaired: Path, tmp_path: Path) -> None:
    findings = _mutate(repaired, tmp_path, lambda m: (m / "saas-app" / "IngressRoute-frontend.yaml").unlink())
    assert any(f.startswith("the frontend page https://saas.localhost answers 404") for f in findings), findings


def test_every_release_track_is_played(release_variant: Build) -> None:
    """Canary and blue-green: the weighted routes reach each track's own played pod."""
    verdict = judge(release_variant)
    assert verdict.findings == [], verdict.findings
    assert "played frontend, frontend-canary, backend-web, backend-web-green" in verdict.summary
