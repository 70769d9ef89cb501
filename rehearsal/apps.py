"""`python -m rehearsal apps BUILD_DIR`: play the frontend and Laravel web pods from their specs.

Each pod runs on this machine without containers (`rehearsal.pods`): its volumes become
directories, its image a fixture tree that follows the documented image contract
(docs/components.md), its init containers run in order, then its containers with the manifest's
command, args, env and working directory under a read-only root. The images:

- the frontend image is tests/fixtures/next-app, built with the real Next.js (npm `next`, the
  committed lockfile) in standalone output with the pod's ASSET_PREFIX, as the image pipeline
  would build it (cached under build/rehearsal, keyed by the lockfile, the sources and the
  prefix); it runs as `node server.js` in /app;
- the backend image is tests/fixtures/laravel-image at /var/www/html, run by this machine's
  php-fpm<version> (the php image's `php-fpm`, conf.d /usr/local/etc/php/conf.d);
- the nginx image is this machine's nginx with the pod's own nginx.conf;
- exporters are not played.

Then: every probe of each played container must pass as the kubelet requires; the frontend page
and every asset it references, and the backend's `/up`, must load through the routing judge's
Traefik on the stack's host names (the played pods stand behind their Services); the frontend
must receive the settings the browser needs (API URL, Reverb key/host/port/scheme) and Reverb's
WebSocket path must answer on the host and port it is told.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from rehearsal.base import Build, JudgeUnavailable, K8sObject, Tally, Verdict
from rehearsal.edge import request, shared_edge
from rehearsal.pods import Image, Pod, require_root

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures"
NEXT_APP = FIXTURES / "next-app"
LARAVEL = FIXTURES / "laravel-image"
CACHE = ROOT / "build" / "rehearsal"
KEEP_BUILDS = 8
_NEXT_SOURCES = ("package.json", "package-lock.json", "next.config.mjs", "app", "public")
# What the browser needs to reach Reverb (laravel/reverb + Laravel Echo's `reverb` broadcaster options).
REVERB_SETTINGS = ("REVERB_APP_KEY", "REVERB_HOST", "REVERB_PORT", "REVERB_SCHEME")
_ASSET = re.compile(r"""(?:src|href)="([^"]+\.(?:js|css)(?:\?[^"]*)?)\"""")
_SETTINGS = re.compile(r'<script id="platform-settings" type="application/json">(.*?)</script>', re.S)


def _installed_php() -> str:
    """The PHP version whose php-fpm is installed (Debian 12: 8.2, Ubuntu 24.04: 8.3, ...;
    scripts/system-deps.sh installs the distribution's), the highest when several are."""
    found = [m.group(1) for p in Path("/usr/sbin").glob("php-fpm*") if (m := re.fullmatch(r"php-fpm(\d+\.\d+)", p.name))]
    return max(found, key=lambda v: tuple(map(int, v.split("."))), default="8.2")


PHP = _installed_php()


def _labels(obj: K8sObject) -> dict[str, str]:
    return dict(obj.spec.get("template", {}).get("metadata", {}).get("labels") or {})


def _tracks(build: Build, name: str, component: str) -> list[K8sObject]:
    """The Deployments of a component, one per release track (canary and blue-green run two)."""
    found = [
        d for d in build.of_kind("Deployment")
        if _labels(d).get("app.kubernetes.io/name") == name and _labels(d).get("app.kubernetes.io/component") == component
    ]  # fmt: skip
    return sorted(found, key=lambda d: d.name)


def _deployment(build: Build, name: str, component: str) -> K8sObject | None:
    tracks = _tracks(build, name, component)
    return tracks[0] if tracks else None


def _container_env(build: Build, workload: K8sObject, key: str, name: str | None = None) -> str | None:
    """A variable the workload's main container (or container `name`) gets (envFrom ConfigMaps,
    then literal env)."""
    containers = workload.spec["template"]["spec"]["containers"]
    container = next((c for c in containers if c["name"] == name), containers[0]) if name else containers[0]
    value = None
    for source in container.get("envFrom") or []:
        if "configMapRef" in source:
            cm = build.find("ConfigMap", workload.namespace, source["configMapRef"]["name"])
            value = ((cm.body.get("data") or {}) if cm else {}).get(key, value)
    for item in container.get("env") or []:
        if item["name"] == key and "value" in item:
            value = str(item["value"])
    return value


# -- the Next.js fixture build --------------------------------------------------------------------
def _next_key(asset_prefix: str) -> str:
    digest = hashlib.sha256(asset_prefix.encode())
    for name in _NEXT_SOURCES:
        path = NEXT_APP / name
        files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
        for file in files:
            digest.update(str(file.relative_to(NEXT_APP)).encode() + b"\0" + file.read_bytes())
    return digest.hexdigest()[:16]


def next_image(asset_prefix: str) -> Path:
    """The standalone image tree of the Next.js fixture built with `asset_prefix` (cached)."""
    if not (NEXT_APP / "node_modules" / "next").is_dir():
        raise JudgeUnavailable(
            f"the Next.js fixture is not installed: make next-fixture (npm ci in {NEXT_APP.relative_to(ROOT)})"
        )
    CACHE.mkdir(parents=True, exist_ok=True)
    target = CACHE / f"next-{_next_key(asset_prefix)}"
    with open(CACHE / "next.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (target / "server.js").is_file():
            os.utime(target)
            return target
        env = {k: v for k, v in os.environ.items() if not k.startswith(("NEXT_", "ASSET_"))}
        env.update(NEXT_TELEMETRY_DISABLED="1", ASSET_PREFIX=asset_prefix)
        proc = subprocess.run(
            ["node", "node_modules/next/dist/bin/next", "build"], cwd=NEXT_APP, env=env,
            capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        if proc.returncode != 0:
            raise JudgeUnavailable(f"next build of the fixture failed: {(proc.stdout + proc.stderr)[-1500:]}")
        tmp = Path(tempfile.mkdtemp(dir=CACHE, prefix="next-tmp-"))
        # The image contract: standalone output, plus .next/static and public copied beside it.
        shutil.copytree(NEXT_APP / ".next" / "standalone", tmp, dirs_exist_ok=True, symlinks=True)
        shutil.copytree(NEXT_APP / ".next" / "static", tmp / ".next" / "static")
        shutil.copytree(NEXT_APP / "public", tmp / "public")
        for path in [tmp, *tmp.rglob("*")]:
            os.chmod(path, 0o755 if path.is_dir() else 0o644)
        if target.exists():
            shutil.rmtree(target)
        tmp.rename(target)
        # Keep the few most recent builds (one per asset prefix in use), not every one ever made.
        builds = sorted(CACHE.glob("next-*"), key=lambda p: p.stat().st_mtime, reverse=True)
        for stale in builds[KEEP_BUILDS:]:
            shutil.rmtree(stale, ignore_errors=True)
        return target


def _images(build: Build, frontends: list[K8sObject], backends: list[K8sObject]) -> dict[str, Image]:
    images: dict[str, Image] = {}
    for workload in [*frontends, *backends]:
        pod = workload.spec["template"]["spec"]
        for container in [*(pod.get("initContainers") or []), *pod["containers"]]:
            ref = container["image"]
            repo = ref.rsplit(":", 1)[0]
            if "exporter" in repo:
                continue
            if repo.endswith("nginx-unprivileged") or repo.split("/")[-1] == "nginx":
                # nginxinc/nginx-unprivileged: CMD nginx -g 'daemon off;', USER 101.
                images[ref] = Image(None, "/", ["nginx", "-g", "daemon off;"], user=(101, 101))
            elif workload in frontends:
                prefix = _container_env(build, workload, "ASSET_PREFIX") or ""
                # Next.js with-docker example: WORKDIR /app, USER nextjs (1001), CMD node server.js.
                images[ref] = Image(next_image(prefix), "/app", ["node", "server.js"], "/app", user=(1001, 1001))
            else:
                # The official php:8.2-fpm image: WORKDIR /var/www/html, CMD php-fpm, conf.d under
                # /usr/local/etc/php; here its programs are this machine's php-fpm<version> and php<version>.
                images[ref] = Image(
                    LARAVEL, "/var/www/html", ["php-fpm"], "/var/www/html",
                    env={"PHP_INI_DIR": "/usr/local/etc/php", "PHP_INI_SCAN_DIR": ":/usr/local/etc/php/conf.d",
                         "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"},
                    links={"/usr/local/sbin/php-fpm": f"/usr/sbin/php-fpm{PHP}", "/usr/local/bin/php": f"/usr/bin/php{PHP}"},
                    dirs=("/usr/local/etc/php/conf.d",),
                    user=(33, 33),
                )  # fmt: skip
    for image in images.values():
        image.env.setdefault("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
    return images


def _service_overrides(build: Build, pod: Pod, workload: K8sObject) -> dict[tuple[str, str, str], str]:
    """Where Traefik reaches the played pod, for every Service port that selects it."""
    labels = _labels(workload)
    out: dict[tuple[str, str, str], str] = {}
    for svc in build.of_kind("Service"):
        selector = svc.spec.get("selector") or {}
        if svc.namespace != workload.namespace or not selector or any(labels.get(k) != v for k, v in selector.items()):
            continue
        for port in svc.spec.get("ports") or []:
            local = pod.port(port.get("targetPort", port["port"]))
            if local is None:
                continue
            for ref in {str(port["port"]), str(port.get("name", port["port"]))}:
                out[(svc.namespace, svc.name, ref)] = f"127.0.0.1:{local}"
    return out


def _probe_container(pod: Pod, workload: K8sObject, container: dict[str, Any]) -> list[tuple[bool, str]]:
    """The kubelet's probes of one container in order (startup, then readiness and liveness)."""
    results = []
    for kind in ("startupProbe", "readinessProbe", "livenessProbe"):
        ok, detail = pod.probe(container, kind)
        if not ok and detail.startswith("HTTP 5"):
            detail += pod.errors()
        never = "; the pod never gets Ready" if kind != "livenessProbe" else ""
        results.append((ok, f"{workload.ref()} container {container['name']}: {kind} fails: {detail}{never}"))
        if not ok:
            break
    return results


def _probe_all(checks: Tally, pods: list[tuple[Pod, K8sObject]]) -> dict[str, bool]:
    """Probe every played container at once (the kubelet probes each on its own); Ready per workload."""
    jobs = [
        (pod, workload, container)
        for pod, workload in pods if not pod.problems
        for container in workload.spec["template"]["spec"]["containers"] if container["name"] in pod.containers
    ]  # fmt: skip
    with ThreadPoolExecutor(max_workers=max(len(jobs), 1)) as pool:
        results = list(pool.map(lambda job: _probe_container(*job), jobs))
    ready = {workload.name: True for pod, workload in pods if not pod.problems}
    for (_, workload, _), outcome in zip(jobs, results):
        for ok, finding in outcome:
            ready[workload.name] &= checks.check("probes", ok, finding)
    return ready


def judge(build: Build) -> Verdict:
    require_root()
    checks = Tally()
    frontends = _tracks(build, "frontend", "frontend")
    backends = _tracks(build, "backend", "backend-web")
    frontend = frontends[0] if frontends else None
    backend = backends[0] if backends else None
    images = _images(build, frontends, backends)
    workdir = Path(tempfile.mkdtemp(prefix="rehearsal-apps-"))
    pods: list[tuple[Pod, K8sObject]] = []
    try:
        # Every track: a weighted route sends requests to each of them.
        for workload in [*frontends, *backends]:
            pod = Pod(build, workload, images, workdir)
            pods.append((pod, workload))
            started = pod.start()
            for problem in pod.problems:
                checks.check("pods start", False, f"{workload.ref()}: {problem}")
            if started:
                checks.check("pods start", True, "")
        ready = _probe_all(checks, pods)
        for pod, workload in pods:
            if ready.get(workload.name) and workload in backends:
                _tls_checks(checks, pod, workload, build)
        overrides: dict[tuple[str, str, str], str] = {}
        for pod, workload in pods:
            if ready.get(workload.name):
                overrides.update(_service_overrides(build, pod, workload))
        loaded = shared_edge().load(build, overrides)
        secure = next(
            (loaded.ports[ep] for ep, body in loaded.entry_points.items() if "tls" in (body.get("http") or {})), 0
        )

        def get(url: str, **kw: Any) -> Any:
            parts = urlsplit(url)
            path = parts.path or "/"
            return request(secure, parts.hostname or "", path + (f"?{parts.query}" if parts.query else ""),
                           cert_file=loaded.cert_file, **kw)  # fmt: skip

        if frontend is not None and all(ready.get(w.name) for w in frontends):
            _frontend_checks(build, checks, frontend, backend, get)
        if backend is not None and all(ready.get(w.name) for w in backends):
            _backend_checks(build, checks, backend, get)
    finally:
        for pod, _ in pods:
            pod.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    skipped = sorted({s for p, _ in pods for s in p.skipped})
    summary = checks.counted()
    return Verdict(
        "apps",
        f"apps: {summary} (played {', '.join(w.name for _, w in pods)}; not played: {len(skipped)} exporters/volumes)",
        checks.findings,
    )


def _frontend_checks(build: Build, checks: Tally, frontend: K8sObject, backend: K8sObject | None, get: Any) -> None:
    url = str(build.outputs.get("frontendUrl") or _container_env(build, frontend, "APP_URL") or "")
    page = get(url, headers={"Accept": "text/html"})
    if not checks.check("frontend page", page.status == 200 and b"saas-platform" in page.body,
                        f"the frontend page {url} answers {page.status} through Traefik"):  # fmt: skip
        return
    html = page.body.decode(errors="replace")
    assets = sorted(set(_ASSET.findall(html)))
    checks.check("frontend assets", bool(assets), f"the frontend page {url} references no script or stylesheet")
    for asset in assets:
        absolute = asset if asset.startswith("http") else url.rstrip("/") + asset
        answer = get(absolute)
        checks.check("frontend assets", answer.status == 200,
                     f"the frontend page {url} loads {absolute}: {answer.status} through Traefik")  # fmt: skip
    match = _SETTINGS.search(html)
    settings = json.loads(match.group(1)) if match else {}
    api = settings.get("API_URL", "")
    checks.check("frontend settings", _is_api(build, api, backend),
                 f"the frontend pod's API_URL is {api!r}: neither the public API host nor a Service of the "
                 "Laravel web pods on one of its ports")  # fmt: skip
    if backend is not None and _deployment(build, "backend", "websockets") is not None:
        missing = [k for k in REVERB_SETTINGS if not settings.get(k)]
        checks.check(
            "frontend settings", not missing,
            f"the frontend pod gets no {', '.join(missing)} (nor NEXT_PUBLIC_ variants): "
            "Laravel Echo in the browser cannot reach Reverb",
        )  # fmt: skip
        if not missing:
            scheme = "https" if settings["REVERB_SCHEME"] == "https" else "http"
            ws = get(f"{scheme}://{settings['REVERB_HOST']}/app/{settings['REVERB_APP_KEY']}?protocol=7",
                     headers={"Connection": "Upgrade", "Upgrade": "websocket", "Sec-WebSocket-Version": "13",
                              "Sec-WebSocket-Key": "cmVoZWFyc2FsLXNvY2tldA=="})  # fmt: skip
            backend_answer = ws.backend or {}
            checks.check("frontend settings", ws.status == 101 and "reverb" in backend_answer.get("service", ""),
                         f"the browser's Reverb socket {settings['REVERB_HOST']}/app/<key> answers {ws.status}")  # fmt: skip


def _is_api(build: Build, url: str, backend: K8sObject | None) -> bool:
    """A public https URL on the API host (the routing judge follows it), or an in-cluster URL
    `http://<service>.<namespace>.svc[.cluster.local]:<port>` of a Service port selecting the web pods."""
    parts = urlsplit(url)
    if parts.scheme == "https":
        return parts.hostname == urlsplit(str(build.outputs.get("apiUrl") or "")).hostname
    name = (parts.hostname or "").split(".")
    if backend is None or len(name) < 3 or name[2] != "svc":
        return False
    svc = build.find("Service", name[1], name[0])
    pod_labels = _labels(backend)
    selector = (svc.spec.get("selector") or {}) if svc else {}
    ports = {int(p["port"]) for p in (svc.spec.get("ports") or [])} if svc else set()
    return bool(selector) and all(pod_labels.get(k) == v for k, v in selector.items()) and (parts.port or 80) in ports


# Settings naming a CA file the app verifies the data stores with (components/data/tls.py):
# stock Laravel's PDO option, the predis TLS context, the RabbitMQ queue driver's ssl_options.
TLS_FILE_SETTINGS = ("MYSQL_ATTR_SSL_CA", "REDIS_TLS_CA", "RABBITMQ_SSL_CAFILE")
# Run in the played php-fpm container with its env: the named file must be readable by the
# pod's user and hold a certificate PHP's openssl can parse (what PDO, predis and php-amqplib load).
_READS_CA = "$f = getenv('{key}'); exit(is_string($f) && is_readable($f) && openssl_x509_read((string) file_get_contents($f)) ? 0 : 1);"


def _tls_checks(checks: Tally, pod: Pod, workload: K8sObject, build: Build) -> None:
    """Each data-store CA setting of the backend names a certificate the container can read."""
    container = next((c for c in workload.spec["template"]["spec"]["containers"] if c["name"] == "php-fpm"), None)
    if container is None:
        return
    for key in TLS_FILE_SETTINGS:
        value = _container_env(build, workload, key, "php-fpm")
        if value is None:
            continue
        ok, detail = pod._probe_once({"exec": {"command": ["php", "-r", _READS_CA.format(key=key)]}, "timeoutSeconds": 10}, "php-fpm")
        checks.check("data TLS settings", ok,
                     f"{workload.ref()} container php-fpm: {key}={value} is not a readable CA certificate ({detail})")


def _backend_checks(build: Build, checks: Tally, backend: K8sObject, get: Any) -> None:
    api = str(build.outputs.get("apiUrl") or _container_env(build, backend, "APP_URL") or "")
    up = get(api.rstrip("/") + "/up", headers={"Accept": "*/*"})
    checks.check("backend /up", up.status == 200, f"{api}/up answers {up.status} through Traefik")
    home = get(api.rstrip("/") + "/", headers={"Accept": "text/html"})
    if not checks.check("backend page", home.status == 200, f"{api}/ answers {home.status} through Traefik"):
        return
    for asset in sorted(set(_ASSET.findall(home.body.decode(errors="replace")))):
        absolute = asset if asset.startswith("http") else api.rstrip("/") + asset
        if absolute.startswith("http://"):
            absolute = "https://" + absolute[len("http://"):]
        answer = get(absolute)
        checks.check("backend assets", answer.status == 200,
                     f"the Laravel page {api}/ loads {asset}: {answer.status} through Traefik")  # fmt: skip
