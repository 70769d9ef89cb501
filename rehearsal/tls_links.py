"""Encryption in transit across objects (part of the `operators` judge, `data.tls`).

The per-object TLS checks live with the operator models (rehearsal/models.py). What breaks
when stores are added beside each other is the link between objects, checked here:

- a RedisSentinel without `spec.TLS` watching a RedisReplication with `spec.TLS`: redis-operator
  v0.26.0 makes the replication TLS-only (the image's entrypoint writes `port 0`,
  OT-CONTAINER-KIT/redis entrypoint.sh port_setup), so a plain Sentinel can never reach its
  master and no failover happens;
- a TLS-only Redis store (RedisReplication, RedisSentinel, RedisCluster with `spec.TLS`) whose
  Secret comes from no cert-manager Certificate of the namespace, or whose Certificate does not
  name every Service the operator creates for it (`<svc>.<ns>.svc`, and `*.<svc>.<ns>.svc` for
  a headless Service, whose pod names replicas, Sentinels and cluster nodes dial): a verifying
  client (the application, a replica) refuses the handshake;
- an SQL client (`mariadb`/`mysql` in a Job, CronJob or Deployment container) connecting to a
  MariaDB whose `spec.tls` is enabled and required without `--ssl-verify-server-cert` and
  `--ssl-ca=`: mariadb-operator v26.6.0 renders `require_secure_transport = ON`
  (internal/controller/mariadb_controller_tls.go), so a plain client is refused, and a TLS
  client that verifies nothing accepts any server.
"""

from __future__ import annotations

import re
from typing import Any, Iterator

from rehearsal.base import Build, K8sObject
from rehearsal.models import MARIADB_SRC, REDIS_SRC, Modelled

REDIS_KINDS = ("RedisReplication", "RedisSentinel", "RedisCluster")
SQL_CLIENT = re.compile(r"(?:^|[\s;|&(])(?:exec\s+)?(?:mariadb|mysql)\s+--")
HOST_FLAG = re.compile(r"--host[= ](\"?)(\S+?)\1(?=\s|$)")


def findings(build: Build, modelled: Modelled) -> list[str]:
    return [*_sentinels(modelled), *_certificates(build, modelled), *_sql_clients(build)]


def _sentinels(modelled: Modelled) -> list[str]:
    tls_replications = {(p.namespace, p.name) for p in modelled.pods
                        if p.traits.get("family") == "redis" and not p.traits.get("sentinel") and p.traits.get("tls")}
    return [
        f"{pod.origin}: Sentinel without spec.TLS watches RedisReplication {pod.namespace}/{pod.traits.get('replication')}, "
        f"which listens with TLS only (port 0; OT-CONTAINER-KIT/redis entrypoint.sh port_setup, {REDIS_SRC} "
        "internal/k8sutils/statefulset.go GenerateTLSEnvironmentVariables): it never reaches its master, no failover happens"
        for pod in modelled.pods
        if pod.traits.get("sentinel") and not pod.traits.get("tls")
        and (pod.namespace, pod.traits.get("replication")) in tls_replications
    ]


def _covered(name: str, dns_names: list[str]) -> bool:
    if name in dns_names:
        return True
    head, _, rest = name.partition(".")
    return bool(rest) and f"*.{rest}" in dns_names and bool(head)


def _certificates(build: Build, modelled: Modelled) -> list[str]:
    out: list[str] = []
    for cr in build.of_kind(*REDIS_KINDS):
        tls = cr.spec.get("TLS")
        if not isinstance(tls, dict):
            continue
        secret = (tls.get("secret") or {}).get("secretName")
        if not secret:
            continue  # rehearsal/models.py redis_tls_findings reports it
        cert = next((c for c in build.of_kind("Certificate")
                     if c.namespace == cr.namespace and c.spec.get("secretName") == secret), None)
        if cert is None:
            if build.find("Secret", cr.namespace, secret) is None:
                out.append(f"{cr.ref()}: spec.TLS names Secret {secret}, which no Certificate of {cr.namespace} issues and no manifest "
                           f"holds: the pods cannot mount /tls ({REDIS_SRC} internal/k8sutils/statefulset.go getVolumeMount)")
            continue
        dns_names = [n for n in cert.spec.get("dnsNames") or [] if isinstance(n, str)]
        for service in modelled.services:
            if service.namespace != cr.namespace or not service.origin.startswith(f"{cr.ref()} ("):
                continue
            host = f"{service.name}.{cr.namespace}.svc"
            wanted = f"*.{host}" if service.name.endswith("-headless") else host
            if not _covered(wanted, dns_names) and wanted not in dns_names:
                out.append(f"{cr.ref()}: Certificate {cert.namespace}/{cert.name} (Secret {secret}) does not name {wanted}, a Service "
                           f"the operator creates for this TLS-only store ({REDIS_SRC}): verifying clients refuse the handshake")
    return out


def _containers(obj: K8sObject) -> Iterator[dict[str, Any]]:
    spec = obj.spec
    if obj.kind == "CronJob":
        spec = ((spec.get("jobTemplate") or {}).get("spec") or {})
    pod = ((spec.get("template") or {}).get("spec") or {})
    yield from pod.get("initContainers") or []
    yield from pod.get("containers") or []


def _target(host: str, env: dict[str, str]) -> str:
    host = host.strip("'\"")
    variable = re.fullmatch(r"\$\{?(\w+)\}?", host)
    if variable:
        host = env.get(variable.group(1), "")
    return host.split(".")[0]


def _sql_clients(build: Build) -> list[str]:
    required: dict[tuple[str, str], str] = {}
    for db in build.of_kind("MariaDB"):
        tls = db.spec.get("tls")
        if isinstance(tls, dict) and tls.get("enabled") and tls.get("required"):
            for suffix in ("", "-primary", "-secondary", "-internal"):
                required[(db.namespace, f"{db.name}{suffix}")] = db.ref()
    out: list[str] = []
    for obj in build.of_kind("Job", "CronJob", "Deployment"):
        for container in _containers(obj):
            env = {e.get("name"): str(e.get("value")) for e in container.get("env") or [] if "value" in e}
            text = "\n".join(str(part) for part in [*(container.get("command") or []), *(container.get("args") or [])])
            for line in text.splitlines():
                if not SQL_CLIENT.search(line):
                    continue
                host = HOST_FLAG.search(line)
                target = required.get((obj.namespace, _target(host.group(2), env))) if host else None
                if target and not ("--ssl-verify-server-cert" in line and "--ssl-ca=" in line):
                    out.append(f"{obj.ref()}: container {container.get('name')} runs an SQL client against {target}, which requires TLS, "
                               f"without --ssl-verify-server-cert and --ssl-ca= ({MARIADB_SRC} internal/controller/mariadb_controller_tls.go: "
                               "require_secure_transport refuses it, or an unverified server is trusted)")
    return out
