"""What a stack file still leaves to the user before a real deploy.

Synthesis succeeds on the committed example stacks, which is what makes them useful for a
first look; but several of their values would deploy silently and wrong (a reserved example
domain, the template's images, a documentation IP address) or are missing and only fail at
`pulumi up` (a provider token, the cluster to deploy to). These are warnings, not errors: synth
must keep working on the examples. The README's first-deploy checklist lists the same checks
(CHECKS below; a test keeps both in step).
"""

from __future__ import annotations

import ipaddress
import json
import re
from typing import Any, Iterator

from synth.stackfile import PROJECT

# Each check, with the key the README's first-deploy checklist names for it. Secrets the configuration
# requires but the stack file leaves unset (`cloudflareDns01Token`, ...) are reported by
# stackfile.fill_required_secrets; `kubernetes.context` is required by the config itself
# outside development.
CHECKS = {
    "secrets": "cloudflareDns01Token",
    "domain": "domain",
    "example-values": "example.com",
    "images": "backend.image",
    "ingress-address": "edge.ingressAddress",
    "cloudflare-zone": "edge.cloudflare.zoneId",
    "cloudflare-token": "cloudflare:apiToken",
    "aws-region": "aws:region",
    "failed-jobs-class": "data.failedJobs.storageClass",
}

# RFC 2606 / RFC 6761 names that can never be a real deployment's.
_EXAMPLE_DOMAIN = re.compile(r"(?:^|[@./])example\.(?:com|net|org)\b|\.(?:example|test|invalid)\b")
# The images the template ships (`pulumi new` prompts for real ones).
_TEMPLATE_IMAGE_PREFIX = "ghcr.io/acme/"
# Cloudflare's documentation zone id (developers.cloudflare.com API examples).
_DOCS_ZONE_ID = "023e105f4ecef8ad9ca31a8372d0c353"
# Documentation address blocks (RFC 5737, RFC 3849): never a real load balancer.
_DOC_NETWORKS = [ipaddress.ip_network(n) for n in ("192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24", "2001:db8::/32")]


def _decode(text: str) -> Any:
    try:
        return json.loads(text) if text[:1] in "{[" else text
    except json.JSONDecodeError:
        return text


def _strings(value: Any, path: str) -> Iterator[tuple[str, str]]:
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _strings(item, f"{path}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _strings(item, f"{path}.{index}")
    elif isinstance(value, str):
        yield path, value


def _is_doc_address(address: str) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return bool(_EXAMPLE_DOMAIN.search(address))
    return any(ip in network for network in _DOC_NETWORKS)


def warnings(stack: str, config: dict[str, str], secret_keys: list[str] | tuple[str, ...] = ()) -> list[str]:
    """One line per value still to set, `<key>: <what is wrong and how to set it>`; [] when
    the stack file looks ready. `config` is what the engine hands the program (fully
    qualified keys, objects JSON-encoded); secret values are never read."""
    values = {key: _decode(text) for key, text in config.items() if key not in secret_keys}
    ours = {key.split(":", 1)[1]: value for key, value in values.items() if key.startswith(f"{PROJECT}:")}
    environment = ours.get("environment", "")
    local = environment == "development"
    edge = ours.get("edge") if isinstance(ours.get("edge"), dict) else {}
    dns = edge.get("dns", "none")
    found: list[str] = []

    domain = str(ours.get("domain", ""))
    if not local and _EXAMPLE_DOMAIN.search(domain):
        found.append(f"{PROJECT}:domain: '{domain}' is a reserved example domain; set yours (pulumi config set domain <your-domain> -s {stack})")
    if not local:
        for key, value in sorted(ours.items()):
            if key == "domain":
                continue
            for path, text in _strings(value, f"{PROJECT}:{key}"):
                if _EXAMPLE_DOMAIN.search(text) and not path.endswith(".ingressAddress"):
                    found.append(f"{path}: '{text}' names an example domain; set a real one")

    for component in ("frontend", "backend"):
        section = ours.get(component) if isinstance(ours.get(component), dict) else {}
        image = str(section.get("image", ""))
        if image.startswith(_TEMPLATE_IMAGE_PREFIX):
            found.append(
                f"{PROJECT}:{component}.image: '{image}' is the template's example image; "
                f"set your own (pulumi config set --path {component}.image <registry/repo:tag> -s {stack})"
            )

    address = edge.get("ingressAddress")
    if isinstance(address, str) and _is_doc_address(address):
        found.append(
            f"{PROJECT}:edge.ingressAddress: '{address}' is a documentation address; set the Traefik load "
            "balancer's address (kubectl -n saas-ingress get svc traefik) or remove it to publish the one the cluster reports"
        )
    if dns == "cloudflare":
        zone = (edge.get("cloudflare") or {}).get("zoneId") if isinstance(edge.get("cloudflare"), dict) else None
        if zone == _DOCS_ZONE_ID or _EXAMPLE_DOMAIN.search(domain):
            why = "is Cloudflare's documentation example" if zone == _DOCS_ZONE_ID else f"belongs to the example domain {domain}"
            found.append(f"{PROJECT}:edge.cloudflare.zoneId: '{zone}' {why}; set your zone's id (Cloudflare dashboard, Overview)")
        if "cloudflare:apiToken" not in config:
            found.append(
                "cloudflare:apiToken: not set; the Cloudflare provider needs a token with Zone:DNS:Edit, Zone settings and "
                f"WAF rights (pulumi config set --secret cloudflare:apiToken <token> -s {stack}, or CLOUDFLARE_API_TOKEN when deploying)"
            )
    data = ours.get("data") if isinstance(ours.get("data"), dict) else {}
    failed_jobs = data.get("failedJobs") if isinstance(data.get("failedJobs"), dict) else {}
    if not local and not failed_jobs.get("storageClass"):
        # components/backend/stores.py: the workers share the failed-job volume across nodes.
        found.append(
            f"{PROJECT}:data.failedJobs.storageClass: not set; the queue workers' failed-job volume is ReadWriteMany "
            "and most default classes (EBS, local disks) cannot provide it, so the workers would stay Pending: name a "
            f"ReadWriteMany class (EFS, CephFS, Longhorn, NFS): pulumi config set --path data.failedJobs.storageClass <class> -s {stack}"
        )
    if dns in ("cloudflare", "route53") and "aws:region" not in config:
        found.append(f"aws:region: not set; SES, IAM and SNS would land in the provider's default region (pulumi config set aws:region <region> -s {stack})")
    return found


def check_of(warning: str) -> str:
    """The CHECKS entry a warning line belongs to (tests map warnings to the README checklist)."""
    key = warning.split(": ", 1)[0]
    if " is not set (required " in warning.split(";")[0]:
        return "secrets"
    if key == f"{PROJECT}:domain":
        return "domain"
    if key.endswith(".image"):
        return "images"
    for check, name in CHECKS.items():
        if key.endswith(name):
            return check
    return "example-values"
