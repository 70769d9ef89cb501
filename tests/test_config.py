"""Stack configuration: tiers and per-environment defaults, and a clear error per bad value."""

from __future__ import annotations

import copy
import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import ROOT, parse_config, run_synth

BASE = yaml.safe_load((ROOT / "Pulumi.staging.yaml").read_text())["config"]
NS = "saas-platform"


def values(**overrides: Any) -> dict[str, Any]:
    """The staging config as plain values (without the namespace), with overrides applied."""
    out = {k.split(":", 1)[1]: copy.deepcopy(v) for k, v in BASE.items() if k.startswith(f"{NS}:")}
    out.update(overrides)
    return out


# ---- tiers and environments (in-process, no Pulumi runtime needed) --------------------------


@pytest.mark.parametrize(
    ("size", "frontend", "backend", "db_replicas"),
    [("small", (2, 3), (2, 4), 0), ("medium", (3, 5), (3, 7), 1), ("large", (5, 12), (5, 15), 2)],
)
def test_tiers_follow_the_seed(size: str, frontend: tuple[int, int], backend: tuple[int, int], db_replicas: int) -> None:
    resolved = parse_config(values(size=size), "staging")
    assert (resolved.replicas.frontend.min, resolved.replicas.frontend.max) == frontend
    assert (resolved.replicas.backend.min, resolved.replicas.backend.max) == backend
    assert resolved.replicas.database_replicas == db_replicas


def test_explicit_replicas_override_the_tier() -> None:
    raw = values(size="large")
    raw["frontend"] = {**raw["frontend"], "replicas": {"min": 2, "max": 4}}
    raw["backend"] = {**raw["backend"], "workers": {"min": 1, "max": 3}}
    resolved = parse_config(raw, "staging")
    assert (resolved.replicas.frontend.min, resolved.replicas.frontend.max) == (2, 4)
    assert (resolved.replicas.workers.min, resolved.replicas.workers.max) == (1, 3)
    assert resolved.replicas.backend.min == 5  # not overridden: still the large tier


def test_development_runs_one_replica_whatever_the_size() -> None:
    resolved = parse_config(values(environment="development", size="large", edge={"dns": "none"}), "dev")
    for bounds in (resolved.replicas.frontend, resolved.replicas.backend, resolved.replicas.workers):
        assert bounds.min == 1
    assert resolved.replicas.database_replicas == 0
    assert not resolved.highly_available and not resolved.protect


def test_production_protects_and_is_highly_available() -> None:
    resolved = parse_config(values(environment="production", objectStorage={"engine": "s3", "bucketPrefix": "example-com", "replicaRegion": "eu-central-1"}), "prod")
    assert resolved.protect and resolved.highly_available


def test_images_pinned_by_digest_are_accepted() -> None:
    digest = "sha256:" + "a" * 64
    raw = values()
    raw["frontend"] = {"image": f"registry.example.com:5000/acme/web@{digest}"}
    assert parse_config(raw, "staging").raw.frontend.image.endswith(digest)


# ---- bad configs: every one exits 1 from synth with the key path in the message ------------

IMAGE = "ghcr.io/acme/web:1.4.2"
EDGE = values()["edge"]
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
    ("replicas max too high", {"frontend": {"image": IMAGE, "replicas": {"min": 1, "max": 500}}}, f"{NS}:frontend.replicas.max: 500 is above the maximum of 50 replicas (the mandatory policy k8s-hpa-bounds rejects more"),
    ("replicas max just above the policy", {"backend": {"image": IMAGE, "replicas": {"min": 3, "max": 51}}}, f"{NS}:backend.replicas.max: 51 is above the maximum of 50"),
    ("workers above the policy", {"backend": {"image": IMAGE, "workers": {"min": 1, "max": 200}}}, f"{NS}:backend.workers.max: 200 is above the maximum of 50"),
    ("replicas not an object", {"frontend": {"image": IMAGE, "replicas": 3}}, f"{NS}:frontend.replicas: expected an object (a YAML mapping)"),
    ("cloudflare section not an object", {"edge": {**EDGE, "cloudflare": "zone"}}, f"{NS}:edge.cloudflare: expected an object (a YAML mapping)"),
    ("mariadb section not an object", {"data": {"mariadb": ["10Gi"]}}, f"{NS}:data.mariadb: expected an object (a YAML mapping)"),
    ("replicas not a number", {"backend": {"image": IMAGE, "replicas": {"min": 1, "max": "many"}}}, f"{NS}:backend.replicas.max: input should be a valid integer"),
    ("workers max missing", {"backend": {"image": IMAGE, "workers": {"min": 3}}}, f"{NS}:backend.workers.max: is required"),
    ("backend key typo", {"backend": {"image": IMAGE, "replica": {"min": 1, "max": 2}}}, f"{NS}:backend.replica: unknown key (known keys: image, jobTimeout, jobsPerWorker, metricsPath, php, queues, release, replicas, workers)"),
    ("storage engine unknown", {"objectStorage": {"engine": "gcs"}}, f"{NS}:objectStorage.engine: input should be 'seaweedfs', 's3' or 'minio'"),
    ("dns provider unknown", {"edge": {"dns": "godaddy"}}, f"{NS}:edge.dns: input should be 'cloudflare', 'route53' or 'none'"),
    ("top-level key typo", {"fronted": {"image": IMAGE}}, f"{NS}:fronted: unknown key"),
    ("canary weight above 100", {"frontend": {"image": IMAGE, "release": {"strategy": "canary", "candidateImage": "ghcr.io/acme/web:1.5.0", "weight": 101}}}, f"{NS}:frontend.release.weight: input should be less than or equal to 100"),
    ("canary weight negative", {"backend": {"image": IMAGE, "release": {"strategy": "canary", "candidateImage": "ghcr.io/acme/api:2.4.0", "weight": -5}}}, f"{NS}:backend.release.weight: input should be greater than or equal to 0"),
    ("canary without candidate", {"frontend": {"image": IMAGE, "release": {"strategy": "canary"}}}, f"{NS}:frontend.release.candidateImage: required by the canary strategy"),
    ("candidate image latest", {"frontend": {"image": IMAGE, "release": {"strategy": "blueGreen", "candidateImage": "ghcr.io/acme/web:latest"}}}, f"{NS}:frontend.release.candidateImage: 'ghcr.io/acme/web:latest' uses :latest"),
    ("release strategy unknown", {"frontend": {"image": IMAGE, "release": {"strategy": "shadow"}}}, f"{NS}:frontend.release.strategy: input should be 'rolling', 'canary' or 'blueGreen'"),
    ("blue-green colour unknown", {"frontend": {"image": IMAGE, "release": {"strategy": "blueGreen", "candidateImage": IMAGE, "active": "red"}}}, f"{NS}:frontend.release.active: input should be 'blue' or 'green'"),
    ("health path without slash", {"frontend": {"image": IMAGE, "healthPath": "health"}}, f"{NS}:frontend.healthPath: "),
    ("production without dns", {"environment": "production", "edge": {"dns": "none"}}, f"{NS}:edge.dns: production needs a DNS provider"),
    # ClusterPlatform (issue 3): ingress, TLS, network isolation
    ("staging without dns", {"environment": "staging", "edge": {"dns": "none"}}, f"{NS}:edge.dns: staging needs a DNS provider"),
    ("ingress not an object", {"ingress": "fast"}, f"{NS}:ingress: expected an object"),
    ("rate limit burst below average", {"ingress": {"rateLimit": {"average": 100, "burst": 10}}}, f"{NS}:ingress.rateLimit: burst (10) must be at least average (100)"),
    ("rate limit zero", {"ingress": {"rateLimit": {"average": 0}}}, f"{NS}:ingress.rateLimit.average: input should be greater than or equal to 1"),
    ("rate limit key typo", {"ingress": {"ratelimit": {"average": 5}}}, f"{NS}:ingress.ratelimit: unknown key (known keys: adminGuard, nodePorts, rateLimit, readTimeoutSeconds, serviceAnnotations, serviceType)"),
    ("ingress service type unknown", {"ingress": {"serviceType": "ClusterIP"}}, f"{NS}:ingress.serviceType: input should be 'LoadBalancer' or 'NodePort'"),
    ("node port without a laptop edge", {"ingress": {"serviceType": "NodePort"}}, f"{NS}:ingress.serviceType: NodePort publishes no load balancer address for edge.dns cloudflare"),
    ("node ports equal", {"ingress": {"nodePorts": {"http": 30080, "https": 30080}}}, f"{NS}:ingress.nodePorts: http and https must be different node ports"),
    ("node port out of range", {"ingress": {"nodePorts": {"http": 80}}}, f"{NS}:ingress.nodePorts.http: input should be greater than or equal to 30000"),
    ("read timeout too short", {"ingress": {"readTimeoutSeconds": 5}}, f"{NS}:ingress.readTimeoutSeconds: input should be greater than or equal to 30"),
    ("admin guard mode unknown", {"ingress": {"adminGuard": {"mode": "oauth"}}}, f"{NS}:ingress.adminGuard.mode: input should be 'basicAuth' or 'allowList'"),
    ("admin allow list empty", {"ingress": {"adminGuard": {"mode": "allowList"}}}, f"{NS}:ingress.adminGuard: mode allowList needs at least one CIDR"),
    ("admin allow list bad cidr", {"ingress": {"adminGuard": {"mode": "allowList", "allowList": ["10.0.0.1/8"]}}}, f"{NS}:ingress.adminGuard.allowList.0: '10.0.0.1/8' is not a network in CIDR notation"),
    ("admin allow list with basic auth", {"ingress": {"adminGuard": {"allowList": ["203.0.113.0/24"]}}}, f"{NS}:ingress.adminGuard: allowList is only used with mode allowList"),
    ("acme email invalid", {"tls": {"acmeEmail": "ops-at-example.com"}}, f"{NS}:tls.acmeEmail: 'ops-at-example.com' is not an e-mail address"),
    ("acme server unknown", {"tls": {"acmeServer": "zerossl"}}, f"{NS}:tls.acmeServer: input should be 'production' or 'staging'"),
    ("api server cidrs empty", {"network": {"apiServerCidrs": []}}, f"{NS}:network.apiServerCidrs: list should have at least 1 item"),
    ("api server cidr invalid", {"network": {"apiServerCidrs": ["kubernetes.default"]}}, f"{NS}:network.apiServerCidrs.0: 'kubernetes.default' is not a network"),
    ("data not an object", {"data": "big"}, f"{NS}:data: expected an object"),
    ("data key typo", {"data": {"mariadb": {"storage_size": "10Gi"}}}, f"{NS}:data.mariadb.storage_size: unknown key (known keys: instance, memory, restore, storage, storageClass)"),
    # data safety (issue 23): restore lineage, the data StorageClass, bucket names, prod backups
    ("restore instance unknown", {"data": {"mariadb": {"instance": "mysql"}}}, f"{NS}:data.mariadb.instance: 'mysql' is not a MariaDB instance of this stack"),
    ("restore onto itself", {"data": {"mariadb": {"instance": "mariadb-r20261120180000", "restore": {"targetTime": "2026-11-20T18:00:00Z"}}}}, f"{NS}:data.mariadb.restore.targetTime: instance mariadb-r20261120180000 is already the restore to that time"),
    ("volume provisioner invalid", {"data": {"volumes": {"provisioner": "EBS CSI"}}}, f"{NS}:data.volumes.provisioner: 'EBS CSI' is not a CSI provisioner name"),
    ("bucket prefix implicit", {"objectStorage": {"engine": "seaweedfs"}}, f"{NS}:objectStorage.bucketPrefix: set it explicitly outside development"),
    ("seaweedfs in production", {"environment": "production", "objectStorage": {"engine": "seaweedfs", "bucketPrefix": "example-com"}}, f"{NS}:objectStorage.engine: production keeps its backups outside the cluster"),
    ("mariadb storage unit", {"data": {"mariadb": {"storage": "10GB"}}}, f"{NS}:data.mariadb.storage: '10GB' is not a size such as 512Mi"),
    ("redis memory unit", {"data": {"redis": {"memory": "1g"}}}, f"{NS}:data.redis.memory: '1g' is not a size"),
    ("storage class invalid", {"data": {"redis": {"storageClass": "Fast_SSD"}}}, f"{NS}:data.redis.storageClass: 'Fast_SSD' is not a StorageClass name"),
    ("backup schedule not cron", {"data": {"backups": {"schedule": "hourly"}}}, f"{NS}:data.backups.schedule: 'hourly' is not a five-field cron expression"),
    ("backup schedule misses rpo", {"data": {"backups": {"schedule": "0 3 * * 1"}}}, f"{NS}:data.backups.schedule: '0 3 * * 1' does not run every day"),
    ("backups off in staging", {"data": {"backups": {"enabled": False}}}, f"{NS}:data.backups.enabled: staging must keep database backups on"),
    ("backup retention unit", {"data": {"backups": {"retention": "30d"}}}, f"{NS}:data.backups.retention: '30d' is not a duration in whole hours"),
    ("restore time not utc", {"data": {"mariadb": {"restore": {"targetTime": "2026-11-20 18:00"}}}}, f"{NS}:data.mariadb.restore.targetTime: '2026-11-20 18:00' is not a UTC time"),
    ("restore time impossible", {"data": {"mariadb": {"restore": {"targetTime": "2026-02-30T18:00:00Z"}}}}, f"{NS}:data.mariadb.restore.targetTime: '2026-02-30T18:00:00Z' is not a valid date"),
    ("restore without backups", {"environment": "development", "edge": {"dns": "none"}, "data": {"mariadb": {"restore": {"targetTime": "2026-11-20T18:00:00Z"}}}}, f"{NS}:data.mariadb.restore: restoring needs data.backups.enabled"),
    # rabbitmq (issue 5)
    ("rabbitmq queues empty", {"rabbitmq": {"queues": []}}, f"{NS}:rabbitmq.queues: list should have at least 1 item"),
    ("rabbitmq queue uppercase", {"rabbitmq": {"queues": ["Emails"]}}, f"{NS}:rabbitmq.queues.0: 'Emails' is not a queue name"),
    ("rabbitmq queue reserved", {"rabbitmq": {"queues": ["default", "dead-letter"]}}, f"{NS}:rabbitmq.queues.1: 'dead-letter' is reserved"),
    ("rabbitmq queue duplicate", {"rabbitmq": {"queues": ["mail", "mail"]}}, f"{NS}:rabbitmq.queues: duplicate queue names: mail"),
    ("rabbitmq queues not a list", {"rabbitmq": {"queues": "default"}}, f"{NS}:rabbitmq.queues: input should be a valid list"),
    ("rabbitmq delivery limit zero", {"rabbitmq": {"deliveryLimit": 0}}, f"{NS}:rabbitmq.deliveryLimit: input should be greater than or equal to 1"),
    ("rabbitmq storage unit", {"rabbitmq": {"storage": "10GB"}}, f"{NS}:rabbitmq.storage: '10GB' is not a storage size"),
    ("rabbitmq key typo", {"rabbitmq": {"queue": ["a"]}}, f"{NS}:rabbitmq.queue: unknown key (known keys: deliveryLimit, queues, storage)"),
    ("rabbitmq not an object", {"rabbitmq": "default"}, f"{NS}:rabbitmq: expected an object"),
    # objectStorage (issue 5)
    ("storage region invalid", {"objectStorage": {"engine": "s3", "region": "Frankfurt"}}, f"{NS}:objectStorage.region: 'Frankfurt' is not a region"),
    ("storage minio without endpoint", {"objectStorage": {"engine": "minio"}}, f"{NS}:objectStorage.endpoint: the minio engine needs the endpoint"),
    ("storage endpoint not https", {"objectStorage": {"engine": "minio", "endpoint": "http://minio.local:9000"}}, f"{NS}:objectStorage.endpoint: 'http://minio.local:9000' is not an https:// endpoint"),
    ("storage endpoint for s3", {"objectStorage": {"engine": "s3", "endpoint": "https://s3.example.net"}}, f"{NS}:objectStorage.endpoint: only the minio engine takes an endpoint"),
    ("storage bucket prefix invalid", {"objectStorage": {"bucketPrefix": "Acme_Files"}}, f"{NS}:objectStorage.bucketPrefix: 'Acme_Files' is not a bucket prefix"),
    ("storage noncurrent days zero", {"objectStorage": {"noncurrentVersionDays": 0}}, f"{NS}:objectStorage.noncurrentVersionDays: input should be greater than or equal to 1"),
    ("storage size invalid", {"objectStorage": {"storage": "lots"}}, f"{NS}:objectStorage.storage: 'lots' is not a storage size"),
    ("minio key in clear", {"objectStorage": {"engine": "minio", "endpoint": "https://s3.example.net", "bucketPrefix": "acme"}, "minioAccessKey": "AKIAPLAIN", "minioSecretKey": {"secure": "v1:eA=="}}, f"{NS}:minioAccessKey: must be set as a secret"),
    ("minio key unused", {"minioSecretKey": {"secure": "v1:eA=="}}, f"{NS}:minioSecretKey: is set but unused"),
    # edge (components/edge_dns.py)
    ("cloudflare zone id missing", {"edge": {"dns": "cloudflare"}}, f"{NS}:edge.cloudflare.zoneId: is required when edge.dns is cloudflare"),
    ("cloudflare zone id malformed", {"edge": {"dns": "cloudflare", "cloudflare": {"zoneId": "example.com"}}}, f"{NS}:edge.cloudflare.zoneId: 'example.com' is not a Cloudflare zone id"),
    ("cloudflare rate limit zero", {"edge": {**EDGE, "cloudflare": {**EDGE["cloudflare"], "loginRequestsPerMinute": 0}}}, f"{NS}:edge.cloudflare.loginRequestsPerMinute: input should be greater than or equal to 1"),
    ("cloudflare zone below its apex", {"edge": {**EDGE, "cloudflare": {**EDGE["cloudflare"], "zoneName": "net"}}}, f"{NS}:edge.cloudflare.zoneName: 'net' is not a lowercase DNS zone name"),
    ("cloudflare stack in another stack's zone", {"domain": "staging.example.com", "edge": {**EDGE, "cloudflare": {**EDGE["cloudflare"], "zoneName": "example.com"}}}, f"{NS}:edge.cloudflare.zoneName: the domain staging.example.com is not the apex of the zone example.com"),
    ("kubernetes context missing outside dev", {"kubernetes": {}}, f"{NS}:kubernetes.context: is required in staging"),
    ("kubernetes context with a space", {"kubernetes": {"context": "my cluster"}}, f"{NS}:kubernetes.context: 'my cluster' is not a kubeconfig context name"),
    ("ingress address invalid", {"edge": {**EDGE, "ingressAddress": "https://lb"}}, f"{NS}:edge.ingressAddress: 'https://lb' is not an IPv4/IPv6 address or a lowercase hostname"),
    ("route53 apex to a host name", {"edge": {"dns": "route53", "ingressAddress": "lb.example.net"}}, f"{NS}:edge.ingressAddress: Route53 cannot point the apex at a host name"),
    ("route53 zone name invalid", {"edge": {"dns": "route53", "route53": {"zoneName": "Example.com."}}}, f"{NS}:edge.route53.zoneName: 'Example.com.' is not a lowercase DNS zone name"),
    ("mail from another domain", {"edge": {**EDGE, "mail": {"fromAddress": "no-reply@other.com"}}}, f"{NS}:edge.mail.fromAddress: 'no-reply@other.com' must be an address of the domain example.net"),
    ("mail from not an address", {"edge": {**EDGE, "mail": {"fromAddress": "no-reply"}}}, f"{NS}:edge.mail.fromAddress: 'no-reply' is not an e-mail address"),
    ("dmarc policy unknown", {"edge": {**EDGE, "mail": {"dmarcPolicy": "strict"}}}, f"{NS}:edge.mail.dmarcPolicy: input should be 'none', 'quarantine' or 'reject'"),
    ("bounce endpoint plain http", {"edge": {**EDGE, "mail": {"bounceEndpoint": "http://hooks.example.com"}}}, f"{NS}:edge.mail.bounceEndpoint: 'http://hooks.example.com' is neither an https:// URL nor an e-mail address"),
    ("mail from subdomain dotted", {"edge": {**EDGE, "mail": {"mailFromSubdomain": "mail.bounce"}}}, f"{NS}:edge.mail.mailFromSubdomain: 'mail.bounce' is not a single lowercase DNS label"),
    ("spf include invalid", {"edge": {**EDGE, "mail": {"spfIncludes": ["-all"]}}}, f"{NS}:edge.mail.spfIncludes: '-all' is not a domain to include in SPF"),
    ("smtp key rotation zero", {"edge": {**EDGE, "mail": {"smtpKeyRotation": 0}}}, f"{NS}:edge.mail.smtpKeyRotation: input should be greater than or equal to 1"),
    ("edge key typo", {"edge": {**EDGE, "cloudfare": {}}}, f"{NS}:edge.cloudfare: unknown key (known keys: cloudflare, dns, ingressAddress, mail, route53)"),
    # monitoring (issue 9)
    ("monitoring not an object", {"monitoring": "on"}, f"{NS}:monitoring: expected an object"),
    ("prometheus retention with spaces", {"monitoring": {"prometheus": {"retention": "15 days"}}}, f"{NS}:monitoring.prometheus.retention: '15 days' is not a retention such as 15d"),
    ("prometheus retention mixed units", {"monitoring": {"prometheus": {"retention": "1d12h"}}}, f"{NS}:monitoring.prometheus.retention: '1d12h' is not a retention"),
    ("prometheus storage decimal unit", {"monitoring": {"prometheus": {"storage": "50GB"}}}, f"{NS}:monitoring.prometheus.storage: '50GB' is not a storage size such as 10Gi"),
    ("prometheus key typo", {"monitoring": {"prometheus": {"retension": "7d"}}}, f"{NS}:monitoring.prometheus.retension: unknown key (known keys: retention, storage)"),
    ("logs enabled not a boolean", {"monitoring": {"logs": {"enabled": "sometimes"}}}, f"{NS}:monitoring.logs.enabled: input should be a valid boolean"),
    ("logs storage bad", {"monitoring": {"logs": {"storage": "lots"}}}, f"{NS}:monitoring.logs.storage: 'lots' is not a storage size"),
    ("alert email not an address", {"monitoring": {"alerts": {"emailTo": ["ops"]}}}, f"{NS}:monitoring.alerts.emailTo.0: 'ops' is not an e-mail address"),
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
    """Each bad configuration through the CLI, in a process of its own (forked from the
    session's synth server, which has the SDKs imported: conftest.run_synth)."""
    base = tmp_path_factory.mktemp("bad")
    jobs = []
    for name, overrides, _ in BAD_CONFIGS:
        directory = base / name.replace(" ", "-")
        directory.mkdir()
        jobs.append((name, _stack_file(directory, overrides), directory / "out"))
    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(lambda job: run_synth("bad", job[2], "--stack-file", str(job[1])), jobs))
    return {name: (proc, out) for (name, _, out), proc in zip(jobs, results)}


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


def test_no_error_names_an_internal_class(bad_runs: dict[str, Any]) -> None:
    """Errors speak the stack file's vocabulary: no pydantic model name (`Bounds`,
    `CloudflareSection`, ...) and not pydantic's own "valid dictionary or instance of"."""
    import inspect

    from pydantic import BaseModel

    from components import config

    internal = {name for name, obj in vars(config).items() if inspect.isclass(obj) and issubclass(obj, BaseModel)}
    assert {"Bounds", "RawConfig", "CloudflareSection"} <= internal
    for name, (proc, _) in bad_runs.items():
        leaked = sorted(word for word in internal if re.search(rf"\b{word}\b", proc.stderr))
        assert not leaked and "valid dictionary or instance of" not in proc.stderr, f"{name}: {proc.stderr}"


def test_replica_maximum_matches_the_mandatory_policy() -> None:
    """Config refuses exactly what the mandatory HPA policy refuses (policies/saas_policies/workloads.py)."""
    import sys

    from components import config

    sys.path.insert(0, str(ROOT / "policies"))
    from saas_policies import workloads

    assert config.MAX_REPLICAS == workloads.MAX_HPA_REPLICAS == 50
    accepted = parse_config(values(backend={"image": IMAGE, "replicas": {"min": 3, "max": 50}}), "staging")
    assert accepted.replicas.backend.max == 50


@pytest.mark.parametrize("namespace", ["saas-platfrom", "saas_platform", "sass-platform", "saasplatform"])
def test_namespace_typo_is_an_error_naming_the_right_key(tmp_path: Path, namespace: str) -> None:
    config = {f"{NS}:{k}": v for k, v in values().items()}
    domain = config.pop(f"{NS}:domain")
    config[f"{namespace}:domain"] = domain
    path = tmp_path / "Pulumi.typo.yaml"
    path.write_text(yaml.safe_dump({"config": config}))
    proc = run_synth("typo", tmp_path / "out", "--stack-file", str(path))
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert f"{namespace}:domain: unknown config namespace '{namespace}' (did you mean {NS}:domain?)" in proc.stderr


def test_other_programs_namespaces_stay_allowed() -> None:
    """Provider and engine namespaces (and anything not close to ours) are not our business."""
    from components import config

    for namespace in ("kubernetes", "aws", "cloudflare", "pulumi", "random", "platform", "my-team"):
        assert not config._near_miss(namespace), namespace
    for namespace in ("saas-platfrom", "saas_platform", "saas-platforms", "SaaS-Platform"):
        assert config._near_miss(namespace), namespace


def test_secret_webhook_value_is_never_printed(bad_runs: dict[str, Any]) -> None:
    proc, _ = bad_runs["alert webhook not https"]
    assert "hooks.example.com" not in proc.stderr + proc.stdout


def test_monitoring_defaults_per_environment() -> None:
    dev = parse_config(values(environment="development", edge={"dns": "none"}), "dev").monitoring
    staging = parse_config(values(), "staging").monitoring
    prod = parse_config(
        values(environment="production", size="medium", objectStorage={"engine": "s3", "bucketPrefix": "example-com", "replicaRegion": "eu-central-1"}), "prod"
    ).monitoring
    assert (dev.logs_enabled, dev.node_exporter, dev.prometheus_replicas) == (False, False, 1)
    assert (staging.logs_enabled, staging.node_exporter, staging.alertmanager_replicas) == (True, True, 2)
    assert (prod.retention, prod.storage, prod.prometheus_replicas) == ("15d", "50Gi", 2)
    assert staging.alert_email_to == ("ops@example.net",)


def test_monitoring_overrides_win() -> None:
    raw = values(
        environment="development",
        edge={"dns": "none"},
        monitoring={"prometheus": {"retention": "30d", "storage": "200Gi"}, "logs": {"enabled": True}, "alerts": {"emailTo": ["oncall@example.com"]}},
    )
    settings = parse_config(raw, "dev").monitoring
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
        parse_config(values(size="tiny"), "staging")


# ---- secrets a real deploy needs, which the committed stack files do not carry ---------------


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({}, f"{NS}:cloudflareDns01Token: is required when edge.dns is cloudflare"),
        (
            {"objectStorage": {"engine": "minio", "endpoint": "https://s3.example.net", "bucketPrefix": "acme"}},
            f"{NS}:minioAccessKey: is required with objectStorage.engine minio",
        ),
    ],
)
def test_program_refuses_a_missing_secret(overrides: dict[str, Any], expected: str) -> None:
    """`pulumi up` (config.load -> parse) still refuses a stack without its secrets; only the
    offline synth substitutes a placeholder, and says so."""
    from components import config

    with pytest.raises(config.ConfigError) as excinfo:
        config.parse(values(**overrides), "staging", set())
    assert any(expected in problem for problem in excinfo.value.problems), excinfo.value.problems


def test_committed_stack_files_hold_no_ciphertext_and_no_placeholder_address() -> None:
    """Review finding 31 / issue item 10: no `secure:` value a secrets provider cannot open (no
    encryptionsalt, no secretsprovider) and no TEST-NET address that would deploy silently."""
    for path in sorted(ROOT.glob("Pulumi.*.yaml")):
        if path.name == "Pulumi.yaml":
            continue
        text = path.read_text()
        assert "secure:" not in text, path.name
        assert "ingressAddress" not in yaml.safe_load(text)["config"].get(f"{NS}:edge", {}), path.name
        for net in ("192.0.2.", "198.51.100.", "203.0.113."):
            assert net not in text, (path.name, net)


def test_synth_warns_about_each_secret_to_set_before_a_deploy(synthesized: dict[str, Any]) -> None:
    for stack in ("staging", "prod"):
        synth = synthesized[stack]
        assert synth.returncode == 0, synth.stderr
        assert f"warning: {NS}:cloudflareDns01Token is not set" in synth.stderr
        assert "pulumi config set --secret cloudflareDns01Token" in synth.stderr
    assert "is not set" not in synthesized["dev"].stderr


def test_committed_stacks_keep_their_zones_and_regions_apart() -> None:
    """Review finding 4: staging and prod never share a Cloudflare zone (one owner of its
    rulesets and settings), and every stack's domain is its zone's apex, so app.<domain> is one
    label deep (Universal SSL). Finding 31: prod's buckets live in prod's AWS region."""
    stacks = {p.name: yaml.safe_load(p.read_text())["config"] for p in ROOT.glob("Pulumi.*.yaml") if p.name != "Pulumi.yaml"}
    zones = [c[f"{NS}:edge"]["cloudflare"]["zoneId"] for c in stacks.values() if c.get(f"{NS}:edge", {}).get("dns") == "cloudflare"]
    assert len(zones) == len(set(zones)) >= 2
    domains = [c[f"{NS}:domain"] for c in stacks.values()]
    assert len(domains) == len(set(domains))
    # No stack's domain sits below another's (it would live in the other's zone).
    assert not [(a, b) for a in domains for b in domains if a != b and a.endswith("." + b)]
    prod = stacks["Pulumi.prod.yaml"]
    assert prod[f"{NS}:objectStorage"]["engine"] == "s3"
    assert prod[f"{NS}:objectStorage"]["region"] == prod["aws:region"]
    for name, config in stacks.items():
        assert config.get(f"{NS}:kubernetes", {}).get("context"), name
    contexts = [c[f"{NS}:kubernetes"]["context"] for c in stacks.values()]
    assert len(contexts) == len(set(contexts))
