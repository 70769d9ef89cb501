"""`operators`: what mariadb-operator, redis-operator and the RabbitMQ operators build from our custom
resources (`rehearsal.models`, each builder citing its upstream file and tag), judged:

- the operators' admission webhooks that our fields touch (MariaDB validateHA, replica recovery);
- Pod Security `restricted` for every operator-made pod where its namespace enforces it (every
  container, init containers included);
- every cluster host name the workloads and stack outputs are configured with resolves to a Service
  of the manifests, the chart catalog or the operator models; every IngressRoute backend exists;
- every NetworkPolicy port opened for pods that do not listen on it while a pod of the namespace
  that a monitor scrapes on that port is left out (a selector that misses an operator-made pod),
  and every monitor that selects nothing;
- TLS across objects (rehearsal/tls_links.py): a plain Sentinel watching a TLS-only replication,
  a TLS-only Redis store whose certificate does not name its Services, an SQL client without
  verified TLS against a MariaDB that requires it.
"""

from __future__ import annotations

from typing import Any

from rehearsal.base import Build, Verdict, selects
from rehearsal.inventory import CLUSTER_HOST, Cluster, cluster, strings
from rehearsal.models import Pod
from rehearsal.network import route_services, scrape_targets
from rehearsal.tls_links import findings as tls_link_findings

PSS = "Pod Security Standards `restricted` (kubernetes.io/docs/concepts/security/pod-security-standards)"


def restricted_violations(pod: Pod) -> list[str]:
    """What `restricted` refuses in this pod: per container allowPrivilegeEscalation=false,
    capabilities.drop ALL, not privileged, runAsNonRoot (pod or container), seccomp profile
    RuntimeDefault/Localhost (pod or container), no runAsUser 0."""
    out = []
    pod_sc = pod.pod_security or {}
    for container, init in [*((c, False) for c in pod.containers), *((c, True) for c in pod.init_containers)]:
        sc: dict[str, Any] = container.get("securityContext") or {}
        what = f"{'init container' if init else 'container'} {container.get('name')}"
        if sc.get("allowPrivilegeEscalation") is not False:
            out.append(f"{what}: allowPrivilegeEscalation must be false")
        if "ALL" not in ((sc.get("capabilities") or {}).get("drop") or []):
            out.append(f"{what}: capabilities.drop must include ALL")
        if sc.get("privileged"):
            out.append(f"{what}: privileged")
        if not (sc.get("runAsNonRoot") or (pod_sc.get("runAsNonRoot") and sc.get("runAsNonRoot") is not False)):
            out.append(f"{what}: runAsNonRoot must be true (pod or container)")
        if sc.get("runAsUser") == 0 or (pod_sc.get("runAsUser") == 0 and "runAsUser" not in sc):
            out.append(f"{what}: runAsUser 0")
        seccomp = (sc.get("seccompProfile") or pod_sc.get("seccompProfile") or {}).get("type")
        if seccomp not in ("RuntimeDefault", "Localhost"):
            out.append(f"{what}: seccompProfile must be RuntimeDefault or Localhost (pod or container)")
    return out


def configured_hosts(build: Build, c: Cluster) -> list[tuple[str, str, str]]:
    """(host, namespace it is resolved from, where it is configured) for every cluster host name."""
    out = []
    for pod in c.pods:
        if pod.origin.endswith("(manifest)"):
            for key, value in pod.env.items():
                for match in CLUSTER_HOST.finditer(value):
                    out.append((match.group(0), pod.namespace, f"{pod.origin.split(' (')[0]} env {key}"))
        for endpoint in pod.traits.get("endpoints") or []:
            out.append((endpoint.host, pod.namespace, endpoint.where))
    for value in strings(build.outputs):
        for match in CLUSTER_HOST.finditer(value):
            out.append((match.group(0), "", "stack outputs"))
    for obj in build.of_kind("ScaledObject", "ScaledJob", "PhysicalBackup", "PointInTimeRecovery", "Backup"):
        for value in strings(obj.spec):
            for match in CLUSTER_HOST.finditer(value):
                out.append((match.group(0), obj.namespace, obj.ref()))
    return sorted(set(out))


def judge(build: Build) -> Verdict:
    c = cluster(build)
    findings = list(c.modelled.findings)
    # TLS across objects: Sentinel and replication, store and certificate, SQL client and MariaDB.
    findings += tls_link_findings(build, c.modelled)
    checks = 0
    # 1. Pod Security where the namespace enforces `restricted`
    enforce = {o.name: o.labels.get("pod-security.kubernetes.io/enforce") for o in build.of_kind("Namespace")}
    operator_pods = [p for p in c.modelled.pods]
    for pod in operator_pods:
        if enforce.get(pod.namespace) == "restricted":
            checks += 1
            for violation in restricted_violations(pod):
                findings.append(f"{pod.origin}: pod {pod.ref} violates PodSecurity restricted: {violation} ({PSS})")
    # 2. host names resolve to Services
    for host, namespace, where in configured_hosts(build, c):
        checks += 1
        if c.resolve(host, namespace) is None:
            findings.append(f"{where}: host {host} names no Service in the manifests, the charts or what the operators create")
    for route in build.of_kind("IngressRoute", "IngressRouteTCP"):
        for rule in route.spec.get("routes") or []:
            for svc in route_services(build, rule.get("services") or [], route.namespace):
                checks += 1
                ns = svc.get("namespace") or route.namespace
                if c.service(ns, str(svc["name"])) is None:
                    findings.append(f"{route.ref()}: backend Service {ns}/{svc['name']} is not in the manifests, the charts or what the operators create")
    # 3. NetworkPolicy ports and monitors that miss the pods they are meant for: a port opened for
    # pods that do not listen on it, while a pod of the namespace that a monitor scrapes on that
    # port is left out (the selector misses an operator- or chart-made pod).
    scraped = {(pod.ref, port) for pod, port, _ in scrape_targets(c, build)}
    for policy in build.of_kind("NetworkPolicy"):
        selected = [p for p in c.pods if p.namespace == policy.namespace and selects(policy.spec.get("podSelector"), p.labels)]
        others = [p for p in c.pods if p.namespace == policy.namespace and p not in selected]
        for rule in policy.spec.get("ingress") or []:
            for port in rule.get("ports") or []:
                number = port.get("port")
                if not isinstance(number, (int, float)):
                    continue
                checks += 1
                number = int(number)
                if not any(number in p.ports.values() for p in selected):
                    missed = [p for p in others if (p.ref, number) in scraped and p in c.modelled.pods]
                    if missed:
                        findings.append(
                            f"NetworkPolicy {policy.namespace}/{policy.name}: opens port {number} on pods that do not listen on it; "
                            + ", ".join(f"{p.ref} ({p.origin}) is scraped on {number} but its labels {sorted(p.labels.items())} do not match the podSelector" for p in missed))
    hits = {why.split(" -> ")[0] for _, _, why in scrape_targets(c, build)}
    for monitor in build.of_kind("ServiceMonitor", "PodMonitor"):
        checks += 1
        if monitor.ref() not in hits:
            findings.append(f"{monitor.ref()}: selects no Service/pod port in the manifests, the charts or what the operators create")
    summary = (f"operators: {len(operator_pods)} operator-made pods and {len(c.modelled.services)} Services modelled, "
               f"{checks} checks, {len(findings)} findings")
    return Verdict("operators", summary, findings)
