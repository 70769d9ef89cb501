"""The real daemons the metrics judge scrapes, on loopback: MariaDB (primary + replica), Redis
(master + replica + Sentinel), RabbitMQ with its Prometheus plugin, nginx with stub_status, and
Traefik in front of nginx. Started once per process (`Rig.shared()`) with the configuration of the
first stack that asks, and shared by every stack after it: the stacks differ in their exporters'
flags, scrape configuration and rules, which the judge sets per stack; the daemons' own
configuration differs only in sizes. Options that would size a daemon for a cluster node (buffer
pools, disk limits) are overridden for a shared laptop, and every override is listed below.
"""

from __future__ import annotations

import atexit
import base64
import json
import os
import shutil
import signal
import sys
import socket
import subprocess
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

from rehearsal.base import Build, JudgeUnavailable
from rehearsal.ports import free_ports

RABBITMQ_BIN = Path("/usr/lib/rabbitmq/bin")  # the unwrapped scripts: Debian's wrappers switch user
NEEDED = {
    "mariadbd": "mariadb-server-core", "mariadb-install-db": "mariadb-server", "mariadb": "mariadb-client",
    "redis-server": "redis-server", "redis-sentinel": "redis-sentinel", "nginx": "nginx-light",
    "prometheus": "prometheus", "promtool": "prometheus",
    "prometheus-mysqld-exporter": "prometheus-mysqld-exporter",
    "prometheus-redis-exporter": "prometheus-redis-exporter",
    "prometheus-nginx-exporter": "prometheus-nginx-exporter",
}
EXPORTER_PASSWORD = "rehearsal-exporter"  # noqa: S105 - a throwaway loopback daemon's password
REDIS_PASSWORD = "rehearsal-redis"  # noqa: S105

# Overrides of the stack's options, and why: sized for a node with GiBs of memory and disk.
MARIADB_OVERRIDES = {"innodb_buffer_pool_size": "32M", "innodb_log_file_size": "8M", "innodb_flush_method": "fsync"}
RABBITMQ_SKIPPED_KEYS = ("disk_free_limit", "collect_statistics_interval", "vm_memory_high_watermark", "listeners.", "management.tcp", "prometheus.tcp",
                         "cluster_formation",
                         # Settings of the RabbitMQ 4.x the operator runs that Debian's 3.10 does
                         # not know (3.13+: quorum membership reconciliation); they tune cluster
                         # membership, not what the exporters expose.
                         "quorum_queue.continuous_membership_reconciliation")


# Where each daemon listens, chosen before any starts: a judge can configure its exporters and
# Prometheus (and so pay Prometheus' discovery delay) while the daemons boot.
PORTS = ["mariadb-0", "mariadb-1", "redis-0", "redis-1", "sentinel", "rabbitmq-amqp", "rabbitmq-management",
         "rabbitmq-prometheus", "rabbitmq-dist", "nginx", "nginx-status", "traefik-web", "traefik-metrics"]


def wait_port(port: int, timeout: float = 60.0, process: subprocess.Popen[bytes] | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"process {process.args!r} exited with {process.returncode}")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout} s")


def require_tools() -> None:
    missing = sorted({pkg for tool, pkg in NEEDED.items() if not shutil.which(tool, path=os.environ.get("PATH", "") + ":/usr/sbin")})
    if not (RABBITMQ_BIN / "rabbitmq-server").exists():
        missing.append("rabbitmq-server")
    if missing:
        raise JudgeUnavailable(f"missing {', '.join(missing)}: run `make system-deps` "
                               f"(apt-get install --no-install-recommends {' '.join(missing)})")


class Rig:
    """The daemons. `ports` and `paths` say where each listens; fault methods stop and restart them."""

    _shared: "Rig | None" = None

    def __init__(self, build: Build, background: bool = False) -> None:
        """Start the daemons; with `background`, in a thread (`ready()` waits for them), so the
        caller can prepare what needs only `ports` meanwhile."""
        require_tools()
        self.dir = Path(tempfile.mkdtemp(prefix="rehearsal-metrics-"))
        self.dir.chmod(0o755)  # nginx's workers (user nobody) read the document root below it
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.ports: dict[str, int] = free_ports(PORTS)
        self.build = build
        self._boot_error: BaseException | None = None
        self._booting = threading.Thread(target=self._boot, name="rehearsal-rig", daemon=True)
        self._booting.start()
        if not background:
            self.ready()

    def _boot(self) -> None:
        try:
            self._start(self.build)
        except BaseException as error:  # noqa: BLE001 - raised again by ready()
            self._boot_error = error
            self.stop()  # never leave daemons behind a rig that failed to start

    def ready(self) -> "Rig":
        """Wait until every daemon answers; raise what stopped the rig from starting."""
        self._booting.join()
        if self._boot_error is not None:
            raise self._boot_error
        return self

    @classmethod
    def shared(cls, build: Build, wait: bool = True) -> "Rig":
        """One rig per process: the first build configures it, later builds reuse it. With
        `wait=False` the daemons may still be booting: call `ready()` before using them."""
        if cls._shared is None:
            cls._shared = cls(build, background=True)
            atexit.register(cls._shared.stop)
        if wait:
            try:
                cls._shared.ready()
            except BaseException:
                cls._shared = None
                raise
        return cls._shared

    # ---- start ---------------------------------------------------------------------------------

    def _spawn(self, name: str, argv: list[str], env: dict[str, str] | None = None, cwd: Path | None = None) -> subprocess.Popen[bytes]:
        log = open(self.dir / f"{name}.log", "ab")  # noqa: SIM115 - kept open for the daemon's life
        proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=env or os.environ.copy(),
                                cwd=cwd or self.dir, start_new_session=True)
        self.procs[name] = proc
        return proc

    def _start(self, build: Build) -> None:
        # nginx first (a moment): the nginx exporter exits if stub_status does not answer when it
        # starts. Then RabbitMQ, which takes longest: the others start while it boots.
        self._start_nginx_and_traefik()
        self._start_rabbitmq(build)
        self._init_mariadb(build)
        for name in ("mariadb-0", "mariadb-1"):
            self.start_mariadb(name)
        self._start_redis(build)
        for name in ("mariadb-0", "mariadb-1"):
            wait_port(self.ports[name], 60, self.procs[name])
        self._setup_mariadb()
        wait_port(self.ports["redis-0"], 30, self.procs["redis-0"])
        # A broker that refused its configuration exits at once: say so instead of waiting.
        if self.procs["rabbitmq"].poll() is not None:
            raise RuntimeError(f"rabbitmq-server exited ({self.procs['rabbitmq'].returncode}): see {self.dir / 'rabbitmq.log'}")
        self.rabbitmqctl("wait", str(self.dir / "rabbitmq" / "rabbitmq.pid"), "--timeout", "280", timeout=300)
        wait_port(self.ports["rabbitmq-prometheus"], 60)

    # MariaDB: the stack's myCnf (spec.myCnf of its MariaDB), plus where to listen and the
    # replication identity the operator gives each pod.
    def _init_mariadb(self, build: Build) -> None:
        mariadb = next(build.of_kind("MariaDB"), None)
        my_cnf = str(mariadb.spec.get("myCnf", "")) if mariadb else ""
        self.my_cnf = my_cnf
        seed = self.dir / "mariadb-seed"
        subprocess.run(["mariadb-install-db", "--no-defaults", f"--datadir={seed}", "--user=root",
                        *(f"--{k}={v}" for k, v in MARIADB_OVERRIDES.items() if k != "innodb_flush_method"),
                        "--auth-root-authentication-method=normal", "--skip-test-db"],
                       check=True, capture_output=True, timeout=120)
        for index in (0, 1):
            name = f"mariadb-{index}"
            shutil.copytree(seed, self.dir / name)
            overrides = {**MARIADB_OVERRIDES, "server_id": str(index + 1), "log_bin": "mariadb-bin",
                         "datadir": str(self.dir / name), "socket": str(self.dir / f"{name}.sock"),
                         "port": str(self.ports[name]), "bind_address": "127.0.0.1", "user": "root",
                         "pid_file": str(self.dir / f"{name}.pid"), "log_error": str(self.dir / f"{name}.err")}
            (self.dir / f"{name}.cnf").write_text(
                my_cnf + "\n[mariadb]\n" + "".join(f"{k} = {v}\n" for k, v in overrides.items()))

    def start_mariadb(self, name: str) -> None:
        self._spawn(name, ["mariadbd", f"--defaults-file={self.dir / f'{name}.cnf'}"])

    def allow_scrapers(self, scrapers: int) -> None:
        """mariadb-operator gives the exporter's account MAX_USER_CONNECTIONS 3: room for the one
        Prometheus (or HA pair) scraping its exporter. A round runs one Prometheus per judged
        folder against the one shared exporter, each scrape a connection: the rig allows 3 per
        scraper (a capacity of the rig, not of any stack), or scrapes that coincide fail with
        "too many connections" and `mysql_up` reads 0 on a healthy rehearsal."""
        for name in ("mariadb-0", "mariadb-1"):
            self.sql(name, f"SET sql_log_bin=0; ALTER USER 'exporter'@'127.0.0.1' WITH MAX_USER_CONNECTIONS {3 * max(1, scrapers)}")

    def sql(self, name: str, statement: str) -> str:
        proc = subprocess.run(["mariadb", "--no-defaults", "-uroot", f"--socket={self.dir / f'{name}.sock'}",
                               "-N", "-B", "-e", statement], capture_output=True, text=True, timeout=60)
        if proc.returncode != 0:
            raise RuntimeError(f"{name}: {statement}: {proc.stderr}")
        return proc.stdout

    def _setup_mariadb(self) -> None:
        # The exporter's account with the privileges mariadb-operator grants it
        # (v26.6.0 internal/controller/mariadb_controller_metrics.go, exporterPrivileges).
        for name in ("mariadb-0", "mariadb-1"):
            for _ in range(100):
                if (self.dir / f"{name}.sock").exists():
                    break
                time.sleep(0.05)
            self.sql(name, "SET sql_log_bin=0; "
                     f"CREATE USER 'exporter'@'127.0.0.1' IDENTIFIED BY '{EXPORTER_PASSWORD}' WITH MAX_USER_CONNECTIONS 3; "
                     "GRANT SELECT, PROCESS, REPLICATION CLIENT, SLAVE MONITOR ON *.* TO 'exporter'@'127.0.0.1'; "
                     "CREATE USER 'repl'@'127.0.0.1' IDENTIFIED BY 'repl'; "
                     "GRANT REPLICATION SLAVE ON *.* TO 'repl'@'127.0.0.1'")
        self.sql("mariadb-1", f"CHANGE MASTER TO MASTER_HOST='127.0.0.1', MASTER_PORT={self.ports['mariadb-0']}, "
                 "MASTER_USER='repl', MASTER_PASSWORD='repl', MASTER_CONNECT_RETRY=1, MASTER_USE_GTID=slave_pos; START SLAVE")
        self.sql("mariadb-0", "CREATE DATABASE app; CREATE TABLE app.t (id INT PRIMARY KEY); INSERT INTO app.t VALUES (1),(2)")

    # Redis: the durable store's additional redis.conf lines (the `redis-config` ConfigMap; the
    # cache store's `redis-cache-config` is another Redis), a replica and Sentinel.
    def _start_redis(self, build: Build) -> None:
        extra = ""
        for cm in build.of_kind("ConfigMap"):
            if cm.namespace and cm.name == "redis-config":
                # Only what redis-server includes (the Sentinel's file is Sentinel's), without the
                # TLS lines (data.tls): the rig's exporters and clients speak plain TCP on loopback;
                # the TLS lines run with real certificates in tests/test_data_tls.py.
                for key, value in (cm.body.get("data") or {}).items():
                    if key == "redis-additional.conf":
                        extra += "\n".join(line for line in str(value).splitlines() if not line.startswith("tls-")) + "\n"
        for index in (0, 1):
            name = f"redis-{index}"
            (self.dir / name).mkdir()
            conf = extra + (f"\nport {self.ports[name]}\nbind 127.0.0.1\ndir {self.dir / name}\n"
                            f"requirepass {REDIS_PASSWORD}\nmasterauth {REDIS_PASSWORD}\ndaemonize no\n"
                            "save \"\"\nappendonly no\n")
            if index:
                conf += f"replicaof 127.0.0.1 {self.ports['redis-0']}\n"
            (self.dir / f"{name}.conf").write_text(conf)
        self.start_redis("redis-0")
        self.start_redis("redis-1")
        (self.dir / "sentinel.conf").write_text(
            f"port {self.ports['sentinel']}\nbind 127.0.0.1\ndir {self.dir}\n"
            f"sentinel monitor mymaster 127.0.0.1 {self.ports['redis-0']} 1\n"
            f"sentinel auth-pass mymaster {REDIS_PASSWORD}\nsentinel down-after-milliseconds mymaster 5000\n")
        self._spawn("sentinel", ["redis-sentinel", str(self.dir / "sentinel.conf")])

    def start_redis(self, name: str) -> None:
        self._spawn(name, ["redis-server", str(self.dir / f"{name}.conf")])

    def redis(self, *args: str, port: int | None = None) -> str:
        proc = subprocess.run(["redis-cli", "-p", str(port or self.ports["redis-0"]), "--no-auth-warning",
                               "-a", REDIS_PASSWORD, *args], capture_output=True, text=True, timeout=30)
        return proc.stdout

    # RabbitMQ: the RabbitmqCluster's additionalConfig (minus listeners and disk/memory sizing)
    # and additionalPlugins, with the management API to put work through.
    def _start_rabbitmq(self, build: Build) -> None:
        cluster = next(build.of_kind("RabbitmqCluster"), None)
        rabbit = dict(cluster.spec.get("rabbitmq") or {}) if cluster else {}
        base = self.dir / "rabbitmq"
        base.mkdir()
        extra = [line for line in str(rabbit.get("additionalConfig", "")).splitlines()
                 if line.strip() and not line.strip().startswith(RABBITMQ_SKIPPED_KEYS)]
        (base / "rabbitmq.conf").write_text(
            f"listeners.tcp.default = 127.0.0.1:{self.ports['rabbitmq-amqp']}\n"
            f"management.tcp.ip = 127.0.0.1\nmanagement.tcp.port = {self.ports['rabbitmq-management']}\n"
            f"prometheus.tcp.ip = 127.0.0.1\nprometheus.tcp.port = {self.ports['rabbitmq-prometheus']}\n"
            # Queue statistics every 500 ms (default 5 s), so a scrape sees a fault within a second.
            "disk_free_limit.absolute = 50MB\ncollect_statistics_interval = 500\n" + "\n".join(extra) + "\n")
        # Quorum queues report their counts on a 5 s tick by default: 500 ms here, like the
        # statistics interval above (an override of timing only).
        (base / "advanced.config").write_text("[{rabbit, [{quorum_tick_interval, 500}]}].\n")
        plugins = sorted({"rabbitmq_management", "rabbitmq_prometheus", *rabbit.get("additionalPlugins", [])})
        (base / "enabled_plugins").write_text(f"[{','.join(plugins)}].\n")
        self.rabbit_node = f"rehearsal-{os.getpid()}@localhost"
        self.rabbit_env = {
            **os.environ, "HOME": str(base), "RABBITMQ_NODENAME": self.rabbit_node,
            "RABBITMQ_MNESIA_BASE": str(base / "mnesia"), "RABBITMQ_LOG_BASE": str(base / "log"),
            "RABBITMQ_CONFIG_FILE": str(base / "rabbitmq.conf"),
            "RABBITMQ_ADVANCED_CONFIG_FILE": str(base / "advanced.config"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(base / "enabled_plugins"),
            "RABBITMQ_DIST_PORT": str(self.ports["rabbitmq-dist"]), "RABBITMQ_PID_FILE": str(base / "rabbitmq.pid"),
        }
        self._spawn("rabbitmq", [str(RABBITMQ_BIN / "rabbitmq-server")], env=self.rabbit_env, cwd=base)

    def set_per_object_metrics(self, enabled: bool) -> None:
        """rabbitmq_prometheus's `prometheus.return_per_object_metrics`, as the stack sets it."""
        if getattr(self, "_per_object", False) != enabled:
            self.rabbitmqctl("eval", f"application:set_env(rabbitmq_prometheus, return_per_object_metrics, {str(enabled).lower()}).")
            self._per_object = enabled

    def rabbitmqctl(self, *args: str, timeout: int = 120) -> str:
        proc = subprocess.run([str(RABBITMQ_BIN / "rabbitmqctl"), "-q", "-n", self.rabbit_node, *args],
                              env=self.rabbit_env, capture_output=True, text=True, timeout=timeout)
        if proc.returncode != 0:
            raise RuntimeError(f"rabbitmqctl {' '.join(args)}: {proc.stdout}{proc.stderr}")
        return proc.stdout

    def rabbit_api(self, path: str, body: dict[str, Any] | None = None, method: str = "") -> Any:
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.ports['rabbitmq-management']}/api/{path}",
            data=json.dumps(body).encode() if body is not None else None,
            headers={"content-type": "application/json",
                     "authorization": "Basic " + base64.b64encode(b"guest:guest").decode()},
            method=method or ("POST" if body is not None else "GET"),
        )
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - loopback only
            return json.loads(response.read() or b"null")

    # nginx with stub_status (the backend web pod's nginx-exporter reads it), Traefik in front.
    def _start_nginx_and_traefik(self) -> None:
        root = self.dir / "nginx"
        (root / "html").mkdir(parents=True)
        (root / "html" / "up").write_text("ok\n")
        (root / "nginx.conf").write_text(
            f"daemon off;\nerror_log {root}/error.log;\npid {root}/nginx.pid;\nevents {{}}\nhttp {{\n"
            f"  access_log off;\n  client_body_temp_path {root}/tmp;\n"
            f"  server {{ listen 127.0.0.1:{self.ports['nginx']}; root {root}/html;\n"
            "    location = /boom { return 500; } }\n"
            f"  server {{ listen 127.0.0.1:{self.ports['nginx-status']}; location = /stub_status {{ stub_status; }} }}\n}}\n")
        self._spawn("nginx", ["nginx", "-p", str(root), "-c", str(root / "nginx.conf")])
        traefik = shutil.which("traefik") or str(Path(sys.executable).parent / "traefik")
        dynamic = self.dir / "traefik-dynamic.yaml"
        dynamic.write_text(json.dumps({"http": {
            "routers": {"backend": {"rule": "PathPrefix(`/`)", "service": "backend", "entryPoints": ["websecure"]}},
            "services": {"backend": {"loadBalancer": {"servers": [{"url": f"http://127.0.0.1:{self.ports['nginx']}"}]}}},
        }}))
        self.traefik_bin = traefik

    def start_traefik(self, flags: list[str]) -> None:
        """Traefik with the chart's metrics flags (per stack): restarted when the flags change."""
        if getattr(self, "_traefik_flags", None) == flags and self.procs["traefik"].poll() is None:
            return
        self.stop_process("traefik")
        self._spawn("traefik", [self.traefik_bin, f"--entryPoints.websecure.address=127.0.0.1:{self.ports['traefik-web']}",
                                f"--entryPoints.metrics.address=127.0.0.1:{self.ports['traefik-metrics']}",
                                f"--providers.file.filename={self.dir / 'traefik-dynamic.yaml'}", "--log.level=ERROR",
                                *flags])
        self._traefik_flags = flags
        wait_port(self.ports["traefik-web"], 30, self.procs["traefik"])
        for _ in range(100):  # the file provider's router arrives a moment after the entry point
            if self.http("/up") == 200:
                return
            time.sleep(0.05)
        raise RuntimeError("Traefik does not route to nginx")

    def http(self, path: str) -> int:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.ports['traefik-web']}{path}", timeout=10) as r:  # noqa: S310
                return int(r.status)
        except urllib.error.HTTPError as error:
            return int(error.code)

    # ---- faults and teardown ---------------------------------------------------------------------

    def stop_process(self, name: str, kill: bool = False) -> None:
        """Stop one daemon as a node would (SIGTERM, its shutdown awaited): the faults' way. With
        `kill`, SIGKILL: for daemons whose data is thrown away next (RabbitMQ's orderly shutdown
        alone takes 6 s)."""
        proc = self.procs.pop(name, None)
        if proc is None or proc.poll() is not None:
            return
        try:
            # its own session: rabbitmq-server's erl and epmd too
            os.killpg(proc.pid, signal.SIGKILL if kill else signal.SIGTERM)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)

    def stop(self) -> None:
        """Kill every daemon at once and remove the rig's folder (nothing in it is kept)."""
        procs = [self.procs.pop(name) for name in reversed(list(self.procs))]
        for proc in procs:
            if proc.poll() is None:
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        for proc in procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
        shutil.rmtree(self.dir, ignore_errors=True)
        if Rig._shared is self:
            Rig._shared = None
