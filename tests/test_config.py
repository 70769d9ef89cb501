"""Stack configuration: tiers and per-environment defaults, and a clear error per bad value."""

from __future__ import annotations

import copy
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import yaml

from components import config
from tests.conftest import ROOT, run_synth

BASE = yaml.safe_load((ROOT / "Pulumi.staging.yaml").read_text())["config"]
NS = "saas-platform"


def values(**overrides: Any) -> dict[str, Any]:
    """The staging config as plain values (without the namespace), with overrides applied."""
    out = {k.split(":", 1)[1]: copy.deepcopy(v) for k, v in BASE.items()}
    out.update(overrides)
    return out


# ---- tiers and environments (in-process, no Pulumi runtime needed) --------------------------


@pytest.mark.parametrize(
    ("size", "frontend", "backend", "db_replicas"),
    [("small", (2, 3), (2, 4), 0), ("medium", (3, 5), (3, 7), 1), ("large", (5, 12), (5, 15), 2)],
)
def test_tiers_follow_the_seed(size: str, frontend: tuple[int, int], backend: tuple[int, int], db_replicas: int) -> None:
    resolved = config.parse(values(size=size), "staging")
    assert (resolved.replicas.frontend.min, resolved.replicas.frontend.max) == frontend
    assert (resolved.replicas.backend.min, resolved.replicas.backend.max) == backend
    assert resolved.replicas.database_replicas == db_replicas


def test_explicit_replicas_override_the_tier() -> None:
    raw = values(size="large")
    raw["frontend"] = {**raw["frontend"], "replicas": {"min": 2, "max": 4}}
    raw["backend"] = {**raw["backend"], "workers": {"min": 1, "max": 3}}
    resolved = config.parse(raw, "staging")
    assert (resolved.replicas.frontend.min, resolved.replicas.frontend.max) == (2, 4)
    assert (resolved.replicas.workers.min, resolved.replicas.workers.max) == (1, 3)
    assert resolved.replicas.backend.min == 5  # not overridden: still the large tier


def test_development_runs_one_replica_whatever_the_size() -> None:
    resolved = config.parse(values(environment="development", size="large", edge={"dns": "none"}), "dev")
    for bounds in (resolved.replicas.frontend, resolved.replicas.backend, resolved.replicas.workers):
        assert bounds.min == 1
    assert resolved.replicas.database_replicas == 0
    assert not resolved.highly_available and not resolved.protect


def test_production_protects_and_is_highly_available() -> None:
    resolved = config.parse(values(environment="production"), "prod")
    assert resolved.protect and resolved.highly_available


def test_images_pinned_by_digest_are_accepted() -> None:
    digest = "sha256:" + "a" * 64
    raw = values()
    raw["frontend"] = {"image": f"registry.example.com:5000/acme/web@{digest}"}
    assert config.parse(raw, "staging").raw.frontend.image.endswith(digest)


# ---- bad configs: every one exits 1 from synth with the key path in the message ------------

IMAGE = "ghcr.io/acme/web:1.4.2"
BAD_CONFIGS: list[tuple[str, dict[str, Any], str]] = [
    ("domain missing", {"domain": None}, f"{NS}:domain: is required"),
    ("domain with scheme", {"domain": "https://example.com"}, f"{NS}:domain: "),
    ("domain uppercase", {"domain": "Example.COM"}, f"{NS}:domain: "),
    ("domain wildcard", {"domain": "*.example.com"}, f"{NS}:domain: "),
    ("environment unknown", {"environment": "prod"}, f"{NS}:environment: input should be 'development'"),
    ("size unknown", {"size": "huge"}, f"{NS}:size: input should be 'small'"),
    ("frontend missing", {"frontend": None}, f"{NS}:frontend: is required"),
    ("frontend not an object", {"frontend": IMAGE}, f"{NS}:frontend: expected an object"),
    ("frontend image missing", {"frontend": {"replicas": {"min": 1, "max": 2}}}, f"{NS}:frontend.image: is required"),
    ("frontend image latest", {"frontend": {"image": "ghcr.io/acme/web:latest"}}, f"{NS}:frontend.image: 'ghcr.io/acme/web:latest' uses :latest"),
    ("frontend image untagged", {"frontend": {"image": "ghcr.io/acme/web"}}, f"{NS}:frontend.image: 'ghcr.io/acme/web' has no tag"),
    ("backend image bad digest", {"backend": {"image": "ghcr.io/acme/api@sha256:abc"}}, f"{NS}:backend.image: digest"),
    ("backend image uppercase", {"backend": {"image": "ghcr.io/Acme/api:1.0"}}, f"{NS}:backend.image: "),
    ("replicas min above max", {"frontend": {"image": IMAGE, "replicas": {"min": 6, "max": 5}}}, f"{NS}:frontend.replicas: min (6) must not exceed max (5)"),
    ("replicas min zero", {"frontend": {"image": IMAGE, "replicas": {"min": 0, "max": 5}}}, f"{NS}:frontend.replicas.min: input should be greater than or equal to 1"),
    ("replicas max too high", {"frontend": {"image": IMAGE, "replicas": {"min": 1, "max": 500}}}, f"{NS}:frontend.replicas.max: input should be less than or equal to 200"),
    ("replicas not a number", {"backend": {"image": IMAGE, "replicas": {"min": 1, "max": "many"}}}, f"{NS}:backend.replicas.max: input should be a valid integer"),
    ("workers max missing", {"backend": {"image": IMAGE, "workers": {"min": 3}}}, f"{NS}:backend.workers.max: is required"),
    ("backend key typo", {"backend": {"image": IMAGE, "replica": {"min": 1, "max": 2}}}, f"{NS}:backend.replica: unknown key (known keys: image, replicas, workers)"),
    ("storage engine unknown", {"objectStorage": {"engine": "gcs"}}, f"{NS}:objectStorage.engine: input should be 'seaweedfs', 's3' or 'minio'"),
    ("dns provider unknown", {"edge": {"dns": "godaddy"}}, f"{NS}:edge.dns: input should be 'cloudflare', 'route53' or 'none'"),
    ("top-level key typo", {"fronted": {"image": IMAGE}}, f"{NS}:fronted: unknown key"),
    ("production without dns", {"environment": "production", "edge": {"dns": "none"}}, f"{NS}:edge.dns: production needs a DNS provider"),
    # monitoring (issue 9)
    ("monitoring not an object", {"monitoring": "on"}, f"{NS}:monitoring: expected an object"),
    ("prometheus retention with spaces", {"monitoring": {"prometheus": {"retention": "15 days"}}}, f"{NS}:monitoring.prometheus.retention: '15 days' is not a retention such as 15d"),
    ("prometheus retention mixed units", {"monitoring": {"prometheus": {"retention": "1d12h"}}}, f"{NS}:monitoring.prometheus.retention: '1d12h' is not a retention"),
    ("prometheus storage decimal unit", {"monitoring": {"prometheus": {"storage": "50GB"}}}, f"{NS}:monitoring.prometheus.storage: '50GB' is not a storage size such as 50Gi"),
    ("prometheus key typo", {"monitoring": {"prometheus": {"retension": "7d"}}}, f"{NS}:monitoring.prometheus.retension: unknown key (known keys: retention, storage)"),
    ("logs enabled not a boolean", {"monitoring": {"logs": {"enabled": "sometimes"}}}, f"{NS}:monitoring.logs.enabled: input should be a valid boolean"),
    ("logs storage bad", {"monitoring": {"logs": {"storage": "lots"}}}, f"{NS}:monitoring.logs.storage: 'lots' is not a storage size"),
    ("alert email not an address", {"monitoring": {"alerts": {"emailTo": ["ops"]}}}, f"{NS}:monitoring.alerts.emailTo.0: 'ops' is not an email address"),
    ("alert email list empty", {"monitoring": {"alerts": {"emailTo": []}}}, f"{NS}:monitoring.alerts.emailTo: list should have at least 1 item"),
    ("node exporter not a boolean", {"monitoring": {"nodeExporter": "maybe"}}, f"{NS}:monitoring.nodeExporter: input should be a valid boolean"),
    ("alert webhook not https", {"alertWebhookUrl": "http://hooks.example.com/T000/B000"}, f"{NS}:alertWebhookUrl: expected an https:// webhook URL (the value is secret and not shown)"),
]


def _stack_file(directory: Path, overrides: dict[str, Any]) -> Path:
    cfg = {f"{NS}:{k}": v for k, v in values(**overrides).items() if v is not None}
    path = directory / "Pulumi.bad.yaml"
    path.write_text(yaml.safe_dump({"config": cfg}))
    return path


@pytest.fixture(scope="module")
def bad_runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    base = tmp_path_factory.mktemp("bad")

    def run(case: tuple[str, dict[str, Any], str]) -> tuple[str, Any, Path]:
        directory = base / case[0].replace(" ", "-")
        directory.mkdir()
        proc = run_synth("bad", directory / "out", "--stack-file", str(_stack_file(directory, case[1])))
        return case[0], proc, directory / "out"

    with ThreadPoolExecutor(max_workers=4) as pool:
        return {name: (proc, out) for name, proc, out in pool.map(run, BAD_CONFIGS)}


def test_at_least_twenty_bad_configs() -> None:
    assert len(BAD_CONFIGS) >= 20


@pytest.mark.parametrize(("name", "overrides", "expected"), BAD_CONFIGS, ids=[c[0] for c in BAD_CONFIGS])
def test_bad_config_is_rejected_with_its_key_path(bad_runs: dict[str, Any], name: str, overrides: dict[str, Any], expected: str) -> None:
    proc, out = bad_runs[name]
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert expected in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr
    assert "no resource was registered" in proc.stderr
    assert not (out / "resources.json").exists()


def test_secret_webhook_value_is_never_printed(bad_runs: dict[str, Any]) -> None:
    proc, _ = bad_runs["alert webhook not https"]
    assert "hooks.example.com" not in proc.stderr + proc.stdout


def test_monitoring_defaults_per_environment() -> None:
    dev = config.parse(values(environment="development", edge={"dns": "none"}), "dev").monitoring
    staging = config.parse(values(), "staging").monitoring
    prod = config.parse(values(environment="production", size="medium"), "prod").monitoring
    assert (dev.logs_enabled, dev.node_exporter, dev.prometheus_replicas) == (False, False, 1)
    assert (staging.logs_enabled, staging.node_exporter, staging.alertmanager_replicas) == (True, True, 2)
    assert (prod.retention, prod.storage, prod.prometheus_replicas) == ("15d", "50Gi", 2)
    assert staging.alert_email_to == ("ops@staging.example.com",)


def test_monitoring_overrides_win() -> None:
    raw = values(
        environment="development",
        edge={"dns": "none"},
        monitoring={"prometheus": {"retention": "30d", "storage": "200Gi"}, "logs": {"enabled": True}, "alerts": {"emailTo": ["oncall@example.com"]}},
    )
    settings = config.parse(raw, "dev").monitoring
    assert (settings.retention, settings.storage, settings.logs_enabled) == ("30d", "200Gi", True)
    assert settings.alert_email_to == ("oncall@example.com",)


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    overrides = {"size": "huge", "edge": {"dns": "godaddy"}, "frontend": {"image": "ghcr.io/acme/web:latest"}}
    proc = run_synth("bad", tmp_path / "out", "--stack-file", str(_stack_file(tmp_path, overrides)))
    assert proc.returncode == 1
    problems = [line.strip() for line in proc.stderr.splitlines() if line.startswith("  saas-platform:")]
    assert [p.split(":")[1] for p in problems] == ["edge.dns", "frontend.image", "size"]


def test_config_errors_are_clean_run_errors() -> None:
    """`pulumi up` prints a RunError without the traceback and program listing."""
    import pulumi

    with pytest.raises(pulumi.RunError, match=r"saas-platform:size"):
        config.parse(values(size="tiny"), "staging")
