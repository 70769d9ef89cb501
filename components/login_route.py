"""The login routes of the API as a Traefik router of their own, so failed logins can be counted.

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
