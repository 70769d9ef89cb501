"""Translate the stack's Traefik objects into Traefik's own file-provider configuration.

The Kubernetes CRD provider and the file provider build the same dynamic configuration model
(routers, services, middlewares, serversTransports, tls); only the references differ. This module
is the one place that maps one onto the other, so the routing and apps judges run the real
Traefik binary on what the cluster's Traefik would load:

- IngressRoute routes -> `http.routers` (entry points, rule, priority, middlewares, tls);
- Kubernetes Service references -> `http.services` load balancers whose servers are local
  addresses the caller chooses (the judges put stand-ins or played pods there);
- TraefikService (weighted) -> a weighted service over those load balancers;
- Middleware -> `http.middlewares` (same spec; the Secret-backed `basicAuth` users and the
  `chain`/`errors` references are resolved);
- ServersTransport -> `http.serversTransports`; TLSOption / TLSStore -> `tls.options` /
  `tls.stores`;
- the chart's `ports` values -> static entry points (address, redirections, TLS, middlewares,
  forwarded headers, responding timeouts) on loopback ports the caller chooses;
- the chart's `tracing` values -> the static `tracing` section, its OTLP/HTTP endpoint on a
  receiver the caller plays.

Naming follows the CRD provider (traefik v3.7 `pkg/provider/kubernetes/crd/kubernetes_http.go`,
`makeID`: `<namespace>-<name>`), so a finding names the object the operator knows.
What the translation cannot represent is returned as `problems` (one line each), never dropped
silently: a reference to a missing Middleware or Service is exactly the kind of defect the
judges exist to find.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

from rehearsal.base import Build, K8sObject

TRAEFIK_KINDS = ("IngressRoute", "Middleware", "TraefikService", "ServersTransport", "TLSOption", "TLSStore")

# Middleware kinds whose CRD spec is the file provider's spec unchanged (traefik v3.7
# `pkg/config/dynamic/middlewares.go`; the CRD's MiddlewareSpec embeds the same structs except
# for the ones handled below). The judge refuses the rest rather than guess.
_SAME_SPEC = {
    "addPrefix", "buffering", "circuitBreaker", "compress", "contentType", "grpcWeb", "headers",
    "inFlightReq", "ipAllowList", "passTLSClientCert", "rateLimit", "redirectRegex",
    "redirectScheme", "replacePath", "replacePathRegex", "retry", "stripPrefix", "stripPrefixRegex",
}

# The address the judges send "inside the allow list" requests from; see `ipAllowList` below.
INSIDE_ADDRESS = "127.0.0.2"


@dataclass(frozen=True)
class Backend:
    """A Kubernetes Service port a route sends traffic to."""

    namespace: str
    service: str
    port: str  # number or port name, as the route wrote it

    @property
    def id(self) -> str:
        return f"{self.namespace}-{self.service}-{self.port}"


@dataclass
class Translation:
    """The file provider's dynamic configuration, the backends it needs and what did not translate."""

    dynamic: dict[str, Any]
    backends: set[Backend] = field(default_factory=set)
    # `http.services` load balancer name -> the Service port it stands for
    service_backends: dict[str, Backend] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    # router name -> the IngressRoute (and route index) it came from, for findings
    origins: dict[str, str] = field(default_factory=dict)


def object_id(namespace: str, name: str) -> str:
    """The CRD provider's id for a namespaced object (`makeID`)."""
    return f"{namespace}-{name}" if namespace else name


def _ref(default_ns: str, ref: dict[str, Any]) -> tuple[str, str]:
    return str(ref.get("namespace") or default_ns), str(ref["name"])


class _Translator:
    def __init__(self, build: Build, address_of: Callable[[Backend], str], basic_auth_users: list[str] | None):
        self.build = build
        self.address_of = address_of
        self.basic_auth_users = basic_auth_users
        self.out = Translation(dynamic={"http": {"routers": {}, "services": {}, "middlewares": {}}, "tls": {}})
        values = self.traefik_values()
        crd = (values.get("providers") or {}).get("kubernetesCRD") or {}
        self.cross_namespace = bool(crd.get("allowCrossNamespace", False))
        self.objects = {(o.kind, o.namespace, o.name): o for o in build.of_kind(*TRAEFIK_KINDS)}

    def traefik_values(self) -> dict[str, Any]:
        for release in self.build.helm_releases.values():
            if release.get("chart") == "traefik":
                return dict(release.get("values") or {})
        return {}

    # -- services ----------------------------------------------------------------------------
    def k8s_service(self, namespace: str, ref: dict[str, Any], route_ns: str) -> str | None:
        """A load balancer for one Kubernetes Service port; its name in `http.services`."""
        ns, name = _ref(namespace, ref)
        if ns != route_ns and not self.cross_namespace:
            self.out.problems.append(
                f"{route_ns}: Service {ns}/{name} is in another namespace and allowCrossNamespace is off"
            )
            return None
        port = str(ref.get("port", ""))
        backend = Backend(ns, name, port)
        self.out.backends.add(backend)
        lb: dict[str, Any] = {"servers": [{"url": f"http://{self.address_of(backend)}"}], "passHostHeader": True}
        if ref.get("passHostHeader") is False:
            lb["passHostHeader"] = False
        if ref.get("serversTransport"):
            lb["serversTransport"] = object_id(ns, str(ref["serversTransport"]))
        if ref.get("sticky"):
            lb["sticky"] = ref["sticky"]
        service_name = f"{backend.id}" + (f"-{lb['serversTransport']}" if "serversTransport" in lb else "")
        self.out.dynamic["http"]["services"][service_name] = {"loadBalancer": lb}
        self.out.service_backends[service_name] = backend
        return service_name

    def route_service(self, namespace: str, ref: dict[str, Any]) -> str | None:
        """A route's `services` entry: a Kubernetes Service or a TraefikService."""
        if ref.get("kind") == "TraefikService":
            ns, name = _ref(namespace, ref)
            return self.traefik_service(ns, name, namespace)
        return self.k8s_service(namespace, ref, namespace)

    def traefik_service(self, namespace: str, name: str, from_ns: str) -> str | None:
        if namespace != from_ns and not self.cross_namespace:
            self.out.problems.append(f"{from_ns}: TraefikService {namespace}/{name} is in another namespace")
            return None
        obj = self.objects.get(("TraefikService", namespace, name))
        if obj is None:
            self.out.problems.append(f"TraefikService {namespace}/{name} is referenced but does not exist")
            return None
        sid = object_id(namespace, name)
        if sid in self.out.dynamic["http"]["services"]:
            return sid
        weighted = obj.spec.get("weighted")
        if not weighted:
            self.out.problems.append(f"{obj.ref()}: only weighted TraefikServices are translated")
            return None
        members = []
        for member in weighted.get("services") or []:
            inner = self.route_service(namespace, member)
            if inner is not None:
                members.append({"name": inner, "weight": int(member.get("weight", 1))})
        spec: dict[str, Any] = {"services": members}
        if weighted.get("sticky"):
            spec["sticky"] = weighted["sticky"]
        self.out.dynamic["http"]["services"][sid] = {"weighted": spec}
        return sid

    # -- middlewares -------------------------------------------------------------------------
    def middleware(self, namespace: str, name: str, from_ns: str, where: str) -> str | None:
        if namespace != from_ns and not self.cross_namespace:
            self.out.problems.append(f"{where}: Middleware {namespace}/{name} is in another namespace")
            return None
        mid = object_id(namespace, name)
        if mid in self.out.dynamic["http"]["middlewares"]:
            return mid
        obj = self.objects.get(("Middleware", namespace, name))
        if obj is None:
            self.out.problems.append(f"{where}: Middleware {namespace}/{name} does not exist")
            return None
        spec = obj.spec
        if len(spec) != 1:
            self.out.problems.append(f"{obj.ref()}: expected exactly one middleware type, got {sorted(spec)}")
            return None
        kind, body = next(iter(spec.items()))
        body = dict(body or {})
        if kind in _SAME_SPEC:
            if kind == "ipAllowList":
                # The judges' clients are on loopback; "inside the list" is played by requests from
                # INSIDE_ADDRESS, so a request from 127.0.0.1 stands for any outside address.
                body["sourceRange"] = [*body.get("sourceRange", []), f"{INSIDE_ADDRESS}/32"]
            translated = body
        elif kind == "basicAuth":
            translated = {k: v for k, v in body.items() if k != "secret"}
            translated["users"] = self.users(namespace, str(body.get("secret", "")), obj)
        elif kind == "chain":
            refs = []
            for ref in body.get("middlewares") or []:
                ns, ref_name = _ref(namespace, ref)
                inner = self.middleware(ns, ref_name, namespace, obj.ref())
                if inner:
                    refs.append(inner)
            translated = {"middlewares": refs}
        elif kind == "errors":
            translated = {k: v for k, v in body.items() if k != "service"}
            service = self.route_service(namespace, dict(body.get("service") or {}))
            if service:
                translated["service"] = service
        else:
            self.out.problems.append(f"{obj.ref()}: middleware type {kind} is not translated by the judge")
            return None
        self.out.dynamic["http"]["middlewares"][mid] = {kind: translated}
        return mid

    def users(self, namespace: str, secret_name: str, where: K8sObject) -> list[str]:
        """htpasswd lines from the Secret (`users` key), or the judge's test users when redacted."""
        secret = self.build.find("Secret", namespace, secret_name)
        if secret is None:
            self.out.problems.append(f"{where.ref()}: basicAuth Secret {namespace}/{secret_name} does not exist")
            return []
        data = {**(secret.body.get("stringData") or {})}
        raw = str(data.get("users", ""))
        if self.basic_auth_users is not None and (not raw or raw == "[secret]"):
            return list(self.basic_auth_users)
        if not raw:
            self.out.problems.append(f"{where.ref()}: Secret {namespace}/{secret_name} has no `users` key")
        return [line for line in raw.splitlines() if line.strip()]

    # -- routers -----------------------------------------------------------------------------
    def ingress_route(self, route_obj: K8sObject) -> None:
        spec = route_obj.spec
        ns = route_obj.namespace
        tls = spec.get("tls")
        for index, route in enumerate(spec.get("routes") or []):
            router_name = f"{object_id(ns, route_obj.name)}-{index}"
            where = f"{route_obj.ref()} route {index} ({route.get('match')})"
            middlewares = []
            for ref in route.get("middlewares") or []:
                mns, mname = _ref(ns, ref)
                mid = self.middleware(mns, mname, ns, where)
                if mid:
                    middlewares.append(mid)
            services = [self.route_service(ns, ref) for ref in route.get("services") or []]
            services = [s for s in services if s]
            if not services:
                self.out.problems.append(f"{where}: no service to send requests to")
                continue
            if len(services) > 1:
                # Several services on one route: the CRD provider builds a weighted round robin.
                service = f"{router_name}-wrr"
                self.out.dynamic["http"]["services"][service] = {
                    "weighted": {"services": [{"name": s, "weight": 1} for s in services]}
                }
            else:
                service = services[0]
            router: dict[str, Any] = {
                "rule": route["match"],
                "service": service,
                "entryPoints": list(spec.get("entryPoints") or []),
            }
            if route.get("priority"):
                router["priority"] = int(route["priority"])
            if middlewares:
                router["middlewares"] = middlewares
            if tls is not None:
                router_tls: dict[str, Any] = {}
                if tls.get("options"):
                    ons, oname = _ref(ns, tls["options"])
                    router_tls["options"] = "default" if oname == "default" else object_id(ons, oname)
                router["tls"] = router_tls
            self.out.dynamic["http"]["routers"][router_name] = router
            self.out.origins[router_name] = where

    # -- TLS and transports ------------------------------------------------------------------
    def tls(self, cert_file: str, key_file: str) -> None:
        options: dict[str, Any] = {}
        for obj in self.build.of_kind("TLSOption"):
            name = "default" if obj.name == "default" else object_id(obj.namespace, obj.name)
            options[name] = {k: v for k, v in obj.spec.items() if k != "clientAuth"}
        stores: dict[str, Any] = {}
        for obj in self.build.of_kind("TLSStore"):
            if obj.name != "default":
                self.out.problems.append(f"{obj.ref()}: Traefik uses only the TLSStore named default")
                continue
            # The cluster's certificate comes from cert-manager; the judge stands in a throwaway one
            # for the same names.
            stores["default"] = {"defaultCertificate": {"certFile": cert_file, "keyFile": key_file}}
        self.out.dynamic["tls"] = {
            "options": options,
            "stores": stores,
            "certificates": [{"certFile": cert_file, "keyFile": key_file}],
        }

    def transports(self) -> None:
        transports = {}
        for obj in self.build.of_kind("ServersTransport"):
            body = {k: v for k, v in obj.spec.items() if k not in ("rootCAsSecrets", "certificatesSecrets")}
            transports[object_id(obj.namespace, obj.name)] = body
        if transports:
            self.out.dynamic["http"]["serversTransports"] = transports


def translate_dynamic(
    build: Build,
    address_of: Callable[[Backend], str],
    cert_file: str,
    key_file: str,
    basic_auth_users: list[str] | None = None,
) -> Translation:
    """The file provider's dynamic configuration for every Traefik object of the build.

    address_of: where the judge serves a Service port (`host:port`).
    basic_auth_users: htpasswd lines to use where a basicAuth Secret is redacted (`[secret]`).
    """
    translator = _Translator(build, address_of, basic_auth_users)
    translator.transports()
    for obj in build.of_kind("IngressRoute"):
        translator.ingress_route(obj)
    translator.tls(cert_file, key_file)
    # Entry-point middlewares of the static configuration live in the dynamic one too.
    namespaces = {o.namespace for o in build.of_kind("Middleware")}
    for _, (ns, name) in _entrypoint_middleware_refs(translator.traefik_values(), namespaces):
        translator.middleware(ns, name, ns, "entry point middlewares")
    return translator.out


_CRD_MIDDLEWARE = re.compile(r"^(?P<ns>[a-z0-9-]+?)-(?P<name>[a-z0-9-]+)@kubernetescrd$")


def _entrypoint_middleware_refs(
    values: dict[str, Any], namespaces: set[str]
) -> Iterable[tuple[str, tuple[str, str]]]:
    """`ports.<ep>.middlewares` (chart) entries, as (entry point, (namespace, name))."""
    for ep, port in (values.get("ports") or {}).items():
        for ref in (port or {}).get("middlewares") or []:
            match = _CRD_MIDDLEWARE.match(str(ref))
            if not match:
                continue
            # `<namespace>-<name>` is ambiguous when both contain dashes: prefer a known namespace.
            for ns in namespaces:
                if str(ref).startswith(ns + "-"):
                    yield ep, (ns, str(ref)[len(ns) + 1 : -len("@kubernetescrd")])
                    break
            else:
                yield ep, (match["ns"], match["name"])


@dataclass
class StaticConfig:
    """Traefik's static configuration and the loopback port of each entry point."""

    config: dict[str, Any]
    ports: dict[str, int]


def translate_static(
    build: Build, dynamic_dir: str, port_of: Callable[[str], int], api_port: int, otlp_receiver: str | None = None
) -> StaticConfig:
    """Entry points from the Traefik release's `ports` values, on loopback ports from `port_of`.

    Follows the chart's rendering of `ports.<name>` (traefik-helm-chart v41.3.0
    `templates/_podtemplate.tpl`): `http.redirections.entryPoint`, `http.tls`, `middlewares`,
    `forwardedHeaders`, `transport.respondingTimeouts`. Entry points the chart does not expose to
    clients (`traefik`, `metrics`) are left out; the judge adds its own API entry point to read
    what Traefik loaded.
    """
    translator = _Translator(build, lambda b: "", None)
    values = translator.traefik_values()
    namespaces = {o.namespace for o in build.of_kind("Middleware")}
    entry_points: dict[str, Any] = {}
    ports: dict[str, int] = {}
    for name, port in (values.get("ports") or {}).items():
        port = dict(port or {})
        if name in ("traefik", "metrics") or port.get("expose", {}).get("default") is False:
            continue
        ports[name] = port_of(name)
        ep: dict[str, Any] = {"address": f"127.0.0.1:{ports[name]}"}
        http = dict(port.get("http") or {})
        redirect = (http.get("redirections") or {}).get("entryPoint")
        http_out: dict[str, Any] = {}
        if redirect:
            http_out["redirections"] = {
                "entryPoint": {
                    "to": redirect.get("to"),
                    "scheme": redirect.get("scheme", "https"),
                    "permanent": bool(redirect.get("permanent", True)),
                    **({"priority": redirect["priority"]} if "priority" in redirect else {}),
                }
            }
        if (http.get("tls") or {}).get("enabled"):
            http_out["tls"] = {}
        mids = [
            f"{ns}-{mname}@file"
            for ep_name, (ns, mname) in _entrypoint_middleware_refs(values, namespaces)
            if ep_name == name
        ]
        if mids:
            http_out["middlewares"] = mids
        if http_out:
            ep["http"] = http_out
        if port.get("forwardedHeaders"):
            ep["forwardedHeaders"] = port["forwardedHeaders"]
        timeouts = (port.get("transport") or {}).get("respondingTimeouts")
        if timeouts:
            ep["transport"] = {"respondingTimeouts": timeouts}
        entry_points[name] = ep
    # `api.insecure` serves the API on the entry point named `traefik` (not a client entry point).
    entry_points["traefik"] = {"address": f"127.0.0.1:{api_port}"}
    config = {
        "global": {"checkNewVersion": False, "sendAnonymousUsage": False},
        "entryPoints": entry_points,
        "api": {"insecure": True, "dashboard": False},
        "ping": {"entryPoint": "traefik"},
        "providers": {"providersThrottleDuration": "0s", "file": {"directory": dynamic_dir, "watch": True}},
        "log": {"level": "ERROR"},
    }
    tracing = static_tracing(values, otlp_receiver)
    if tracing:
        config["tracing"] = tracing
    return StaticConfig(config, ports)


def static_tracing(values: dict[str, Any], otlp_receiver: str | None) -> dict[str, Any] | None:
    """The chart's `tracing.*` values as Traefik's static `tracing` section (traefik-helm-chart
    v41.3.0 `templates/_podtemplate.tpl` `--tracing.sampleRate`, `--tracing.serviceName`,
    `--tracing.resourceAttributes.<k>`, and `_helpers.tpl` `traefik.oltpCommonParams`: the OTLP
    flags only when `tracing.otlp.enabled`, `--tracing.otlp.http=true` plus its options when
    `http.enabled`). With `otlp_receiver` the HTTP endpoint's scheme, host and port are replaced
    by the judge's receiver, keeping the configured path."""
    tracing = dict(values.get("tracing") or {})
    otlp = dict(tracing.get("otlp") or {})
    if not otlp.get("enabled"):
        return None
    out: dict[str, Any] = {}
    if tracing.get("sampleRate") is not None:
        out["sampleRate"] = tracing["sampleRate"]
    for key in ("serviceName", "resourceAttributes", "capturedRequestHeaders", "capturedResponseHeaders", "safeQueryParams"):
        if tracing.get(key):
            out[key] = tracing[key]
    exporter: dict[str, Any] = {}
    for protocol in ("http", "grpc"):
        options = dict(otlp.get(protocol) or {})
        if not options.pop("enabled", False):
            continue
        options = {k: v for k, v in options.items() if v not in ("", None, {}, [])}
        if protocol == "http" and otlp_receiver and options.get("endpoint"):
            path = re.sub(r"^[a-z]+://[^/]*", "", str(options["endpoint"]))
            options["endpoint"] = otlp_receiver + path
        tls = {k: v for k, v in dict(options.pop("tls", None) or {}).items() if v not in ("", None)}
        if tls:
            options["tls"] = tls
        exporter[protocol] = options
    out["otlp"] = exporter or {}
    return out
