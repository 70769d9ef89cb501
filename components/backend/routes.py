"""The API's IngressRoutes on `app.<domain>`: Reverb on `/app` and `/apps`, the rest to the web
track(s), and the login routes as a Traefik router of their own, so failed logins can be counted.

Traefik labels its per-router metrics (`traefik_router_requests_total{router,service,code,...}`,
on because the chart values set `metrics.prometheus.addRoutersLabels`) with the router's name.
A route inside the backend's main IngressRoute would be a router named after that IngressRoute
plus a hash of its rule, indistinguishable from the others by name. An IngressRoute of its own,
`backend-login`, gives routers that Traefik's CRD provider names
`<namespace>-backend-login-<first 10 hex digits of sha256(match)>` and qualifies with
`@kubernetescrd` (traefik v3.7.9 pkg/provider/kubernetes/crd/kubernetes_http.go: `makeServiceKey`
then `makeID`; kubernetes.go `makeServiceKey`), which LOGIN_ROUTER_REGEX matches whatever the
namespace and domain. The router wraps the route's middlewares (pkg/server/router/router.go
`buildHTTPHandler`: the metrics handler comes before `BuildMiddlewareChain`), so a 429 from the
rate-limit middleware is counted too.

The route sends to the same services with the same middlewares as the API's main route; only the
router (and so the metric label) differs. A failed login in Laravel answers 422 (a session login
whose validation fails: `ValidationException`) or 401 (an API token login refused); both are
counted by the `saas-security` alerts (components/files/alerts/security.yaml).
"""

from __future__ import annotations

from typing import Any, Sequence

import pulumi
import pulumi_kubernetes as k8s

from components import k8s as kube
from components import routing
from components.backend.args import LaravelBackendArgs
from components.backend.settings import APP, REVERB_PORT

NAME = "backend-login"
# Where Laravel checks credentials: the session login of Breeze/Fortify (`POST /login`) and the
# usual API token routes. Cloudflare's login rate limit (edge_cloudflare.LOGIN_PATHS) covers these
# and the registration and password-reset forms as well.
CREDENTIAL_PATHS = ("/login", "/api/login", "/api/auth/login")
# Every router of the `backend-login` IngressRoute in Traefik's per-router metrics (see above).
LOGIN_ROUTER_REGEX = "[a-z0-9-]+-backend-login-[0-9a-f]{10}@kubernetescrd"
# Above the main `Host(...)` route (whose priority is its rule's length), below Reverb's 100.
PRIORITY = 90


def login_match(host: str) -> str:
    paths = " || ".join(f"Path(`{path}`)" for path in CREDENTIAL_PATHS)
    return f"Host(`{host}`) && ({paths})"


def login_route(
    namespace: pulumi.Input[str],
    host: str,
    middlewares: Sequence[dict[str, Any]],
    services: list[dict[str, object]],
    opts: pulumi.ResourceOptions,
) -> k8s.apiextensions.CustomResource:
    """The `backend-login` IngressRoute: the API's credential paths, to the API's services."""
    return k8s.apiextensions.CustomResource(
        NAME,
        api_version=routing.TRAEFIK_API,
        kind="IngressRoute",
        metadata=kube.metadata(NAME, "backend-web", namespace, app="backend"),
        spec={
            "entryPoints": ["websecure"],
            "routes": [
                {
                    "kind": "Rule",
                    "match": login_match(host),
                    "priority": PRIORITY,
                    "middlewares": list(middlewares),
                    "services": services,
                }
            ],
            "tls": {},
        },
        opts=opts,
    )


def routes(
    args: LaravelBackendArgs, target: routing.RouteTarget, reverb_service: pulumi.Output[str], opts: pulumi.ResourceOptions
) -> None:
    """The API's IngressRoute (Reverb, the internal-only metrics path, the rest), Reverb's
    ServersTransport and the `backend-login` route."""
    a, cfg = args, args.config
    host = f"app.{cfg.domain}"
    shared = [m.as_route_ref() for m in a.middlewares]
    # WebSocket connections live for hours: no idle cut-off between Traefik and Reverb.
    k8s.apiextensions.CustomResource(
        "backend-reverb-transport",
        api_version=routing.TRAEFIK_API,
        kind="ServersTransport",
        metadata=kube.metadata("backend-reverb", "websockets", a.namespace, app=APP),
        spec={"forwardingTimeouts": {"dialTimeout": "5s", "idleConnTimeout": "3600s", "pingTimeout": "15s"}},
        opts=opts,
    )
    internal_only = routing.internal_only_middleware(APP, "backend-web", a.namespace, opts)
    k8s.apiextensions.CustomResource(
        "backend",
        api_version=routing.TRAEFIK_API,
        kind="IngressRoute",
        metadata=kube.metadata("backend", "backend-web", a.namespace, app=APP),
        spec={
            "entryPoints": ["websecure"],
            "routes": [
                {
                    # The Pusher protocol Reverb speaks: /app/{key} (WebSocket), /apps/{id}/... (HTTP API).
                    "kind": "Rule",
                    "match": f"Host(`{host}`) && (PathPrefix(`/app/`) || PathPrefix(`/apps/`))",
                    "priority": 100,
                    "middlewares": [m for m in shared if m["name"] != "compression"],
                    "services": [{"name": reverb_service, "port": REVERB_PORT, "serversTransport": "backend-reverb"}],
                },
                {
                    # The app's metrics route is for Prometheus, which reaches the pods directly:
                    # through the edge it answers 403 (an allow-list nobody matches).
                    "kind": "Rule",
                    "match": f"Host(`{host}`) && Path(`{cfg.raw.backend.metricsPath}`)",
                    "priority": 1000,
                    "middlewares": [{"name": "backend-internal-only", "namespace": a.namespace}],
                    "services": target.refs,
                },
                {
                    "kind": "Rule",
                    "match": f"Host(`{host}`)",
                    "middlewares": shared,
                    "services": target.refs,
                },
            ],
            "tls": {},
        },
        opts=pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(depends_on=[internal_only])),
    )
    # The credential paths as a router of their own: failed logins by router label.
    login_route(a.namespace, host, shared, target.refs, opts)
