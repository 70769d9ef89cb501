"""Deploy readiness: what the committed example stacks still leave to the user is printed by
synth as warnings (never an error: the examples must synthesize), and the README's first-deploy
checklist lists the same checks."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
import yaml

from synth import readiness
from tests.conftest import ROOT, Synth

PREFIX = "warning: "


def stack_config(name: str) -> dict[str, str]:
    """A stack file as the engine hands it over (objects JSON-encoded, `secure:` marked secret)."""
    from synth import stackfile

    config, _ = stackfile.load(ROOT / f"Pulumi.{name}.yaml")
    return config


def printed_checks(stack: Synth) -> set[str]:
    return {readiness.check_of(line[len(PREFIX):]) for line in stack.stderr.splitlines() if line.startswith(PREFIX)}


@pytest.mark.parametrize("name", ["staging", "prod"])
def test_example_stacks_warn_about_everything_still_to_set(synthesized: dict[str, Synth], name: str) -> None:
    stack = synthesized[name]
    assert stack.returncode == 0, stack.stderr
    assert {"secrets", "domain", "example-values", "images", "cloudflare-zone", "cloudflare-token",
            "failed-jobs-class"} <= printed_checks(stack)
    assert f"{PREFIX}saas-platform:cloudflareDns01Token is not set" in stack.stderr


def test_dev_warns_only_about_the_images(synthesized: dict[str, Synth]) -> None:
    """dev is meant to run as committed on a local cluster (saas.localhost, no edge): only the
    template's images are left to replace."""
    assert printed_checks(synthesized["dev"]) == {"images"}


READY: dict[str, Any] = {
    "saas-platform:domain": "shop.acme-corp.io",
    "saas-platform:environment": "production",
    "saas-platform:frontend": {"image": "registry.acme-corp.io/web:3.1.0"},
    "saas-platform:backend": {"image": "registry.acme-corp.io/api:5.0.2"},
    "saas-platform:edge": {
        "dns": "cloudflare",
        "cloudflare": {"zoneId": "9a7b5c3d1e2f4a6b8c0d9e8f7a6b5c4d"},
        "mail": {"dmarcReports": "dmarc@acme-corp.io", "bounceEndpoint": "https://hooks.acme-corp.io/ses"},
    },
    "saas-platform:kubernetes": {"context": "acme-prod"},
    "saas-platform:data": {"failedJobs": {"storageClass": "efs-sc"}},
    "cloudflare:apiToken": "[secret]",
    "aws:region": "eu-central-1",
}


def _engine(config: dict[str, Any]) -> dict[str, str]:
    return {k: v if isinstance(v, str) else json.dumps(v) for k, v in config.items()}


def test_a_ready_stack_has_no_warning() -> None:
    assert readiness.warnings("prod", _engine(READY), ["cloudflare:apiToken"]) == []


def _with(path: str, value: Any) -> dict[str, Any]:
    config = copy.deepcopy(READY)
    key, _, rest = path.partition(".")
    if not rest:
        if value is None:
            config.pop(key)
        else:
            config[key] = value
        return config
    node = config[key]
    parts = rest.split(".")
    for part in parts[:-1]:
        node = node[part]
    node[parts[-1]] = value
    return config


@pytest.mark.parametrize(
    ("path", "value", "check"),
    [
        # The zone id then belongs to the example too.
        ("saas-platform:domain", "example.org", "domain cloudflare-zone"),
        ("saas-platform:domain", "shop.example.com", "domain cloudflare-zone"),
        ("saas-platform:edge.mail.dmarcReports", "dmarc@example.com", "example-values"),
        ("saas-platform:backend.image", "ghcr.io/acme/api:2.3.0", "images"),
        ("saas-platform:frontend.image", "ghcr.io/acme/web:1.4.2", "images"),
        ("saas-platform:edge.ingressAddress", "203.0.113.20", "ingress-address"),
        ("saas-platform:edge.ingressAddress", "2001:db8::1", "ingress-address"),
        ("saas-platform:edge.cloudflare.zoneId", "023e105f4ecef8ad9ca31a8372d0c353", "cloudflare-zone"),
        ("cloudflare:apiToken", None, "cloudflare-token"),
        ("aws:region", None, "aws-region"),
    ],
)
def test_each_check_fires(path: str, value: Any, check: str) -> None:
    config = _with(path, value)
    secret = ["cloudflare:apiToken"] if "cloudflare:apiToken" in config else []
    found = readiness.warnings("prod", _engine(config), secret)
    assert [readiness.check_of(w) for w in found] == check.split(), found


def test_real_addresses_are_not_flagged() -> None:
    config = _with("saas-platform:edge.ingressAddress", "34.120.10.5")
    assert readiness.warnings("prod", _engine(config), ["cloudflare:apiToken"]) == []


def test_secret_values_are_never_read() -> None:
    config = _engine(READY)
    config["saas-platform:alertWebhookUrl"] = "https://hooks.example.com/T0/B0"
    assert readiness.warnings("prod", config, ["cloudflare:apiToken", "saas-platform:alertWebhookUrl"]) == []


def test_readme_first_deploy_checklist_lists_every_check() -> None:
    readme = (ROOT / "README.md").read_text()
    start = readme.index("## First deploy checklist")
    section = readme[start : readme.index("\n## ", start + 1)]
    missing = [check for check, key in readiness.CHECKS.items() if f"`{key}" not in section]
    assert missing == [], f"README checklist lacks {missing}"
    assert "kubernetes.context" in section
