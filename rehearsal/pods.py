"""Play a Deployment's pod on this machine without containers, the way the kubelet would run it.

A pod gets its own network namespace (so its containers reach each other on 127.0.0.1 with the
ports of the manifest, as in Kubernetes); each container gets its own mount namespace whose root
is a read-only overlay of this machine's root (its programs: nginx, php-fpm<version>, node) with:

- the image: a fixture tree under tests/fixtures at the image's path (see `Image`);
- the pod's volumes at their mountPaths: emptyDir an empty directory (owned by fsGroup),
  configMap and secret keys as files (`subPath` a single file), read-only where the manifest says;
- the root itself read-only when `readOnlyRootFilesystem` is set: only mounts are writable.

Init containers run in order, each to completion; then the containers start with the manifest's
command/args (else the image's), env (`envFrom`, then `env`), working directory and user. Each
container port is forwarded from a loopback port of this machine to the pod's own address
(`POD_IP`), from a peer address of the pod network (`PEER_IP`), as Traefik would connect.
Probes are the kubelet's (httpGet with `kube-probe` and `Accept: */*`, tcpSocket, exec in the
container), time
compressed: periods become PROBE_PERIOD seconds.

Needs root (namespaces, mounts, changing user), as CI has; otherwise the judge cannot run.
"""

from __future__ import annotations

import base64
import http.client
import os
import shlex
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rehearsal.base import Build, JudgeUnavailable, K8sObject
from rehearsal.certs import certificate_secret
from rehearsal.edge import die_with_parent
from rehearsal.netns import listening_on

PROBE_PERIOD = 0.05
# The longest the judge waits for a container to start answering at all (real seconds).
START_BUDGET = 20.0
EXEC_GRACE = 3.0  # seconds before an exec probe's failures count (see probe())

# Stand-ins from a typical pod network (10.42.0.0/16, k3s' default cluster CIDR): the played
# pod's IP and the address its forwarded clients come from.
POD_IP = "10.42.0.10"
PEER_IP = "10.42.0.1"
_FORWARDER = r"""
import socket, sys, threading
listener = socket.socket(fileno=int(sys.argv[1]))
target = int(sys.argv[2])
def pipe(a, b):
    try:
        while True:
            data = a.recv(65536)
            if not data:
                break
            b.sendall(data)
    except OSError:
        pass
    finally:
        for s in (a, b):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
def serve(client):
    try:
        upstream = socket.create_connection((sys.argv[3], target), timeout=5, source_address=(sys.argv[4], 0))
        upstream.settimeout(None)
    except OSError:
        client.close()
        return
    threading.Thread(target=pipe, args=(client, upstream), daemon=True).start()
    pipe(upstream, client)
while True:
    conn, _ = listener.accept()
    threading.Thread(target=serve, args=(conn,), daemon=True).start()
"""


@dataclass(frozen=True)
class Image:
    """What an image reference stands for here: a tree at a path, plus the image's defaults."""

    tree: Path | None  # mounted at `path` (None: the image's programs are this machine's)
    path: str
    command: list[str]  # ENTRYPOINT + CMD, as the image would run with no command/args
    workdir: str = "/"
    env: dict[str, str] = field(default_factory=dict)
    # symlink -> target created in the container's root (the image's program names)
    links: dict[str, str] = field(default_factory=dict)
    dirs: tuple[str, ...] = ()  # directories the image has (created in the container's root)
    user: tuple[int, int] = (65534, 65534)


_NAMESPACES_OK: bool | None = None


def require_root() -> None:
    """Root that may create network and mount namespaces (CI's machine; a container needs
    `--privileged`), with util-linux's unshare/nsenter and iproute2's ip."""
    global _NAMESPACES_OK
    if os.geteuid() != 0 or not all(shutil.which(t) for t in ("unshare", "nsenter", "ip")):
        raise JudgeUnavailable("playing pods needs root with unshare/nsenter (util-linux) and ip (iproute2), as in CI")
    if _NAMESPACES_OK is None:
        probe = subprocess.run(
            ["unshare", "--net", "--mount", "sh", "-c", "ip link set lo up && mount -t tmpfs tmpfs /mnt"],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        _NAMESPACES_OK = probe.returncode == 0
    if not _NAMESPACES_OK:
        raise JudgeUnavailable("cannot create network/mount namespaces here (in a container: run it --privileged)")


@dataclass
class ContainerRun:
    name: str
    process: subprocess.Popen[bytes]
    log: Path

    def tail(self, lines: int = 6) -> str:
        text = self.log.read_text(errors="replace").strip().splitlines() if self.log.exists() else []
        return " | ".join(text[-lines:])


class Pod:
    """One pod of a Deployment, played on this machine."""

    def __init__(self, build: Build, workload: K8sObject, images: dict[str, Image], workdir: Path) -> None:
        self.build = build
        self.workload = workload
        self.images = images
        self.spec: dict[str, Any] = workload.spec["template"]["spec"]
        self.dir = workdir / f"pod-{workload.name}"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.holder: subprocess.Popen[bytes] | None = None
        self.containers: dict[str, ContainerRun] = {}
        self.forwarders: list[subprocess.Popen[bytes]] = []
        self.ports: dict[int, int] = {}  # container port -> loopback port here
        self.port_names: dict[str, int] = {}
        self.enter: dict[str, tuple[str, str]] = {}  # container -> (chroot command template, workdir)
        self.problems: list[str] = []
        self.skipped: list[str] = []

    # -- volumes -------------------------------------------------------------------------------
    def _fs_group(self) -> int | None:
        return (self.spec.get("securityContext") or {}).get("fsGroup")

    def _volumes(self) -> dict[str, Path]:
        out: dict[str, Path] = {}
        group = self._fs_group()
        for volume in self.spec.get("volumes") or []:
            path = self.dir / "volumes" / volume["name"]
            if path.exists():
                shutil.rmtree(path)
            path.mkdir(parents=True)
            if "configMap" in volume or "secret" in volume:
                self._project(volume, path)
            elif "emptyDir" not in volume:
                self.skipped.append(f"volume {volume['name']} ({next(iter(volume.keys() - {'name'}))}) played as empty")
            os.chmod(path, 0o777 if "emptyDir" in volume else 0o755)
            if group is not None and "emptyDir" in volume:
                os.chown(path, 0, group)
                os.chmod(path, 0o2777)
            out[volume["name"]] = path
        return out

    def _project(self, volume: dict[str, Any], path: Path) -> None:
        if "configMap" in volume:
            source = volume["configMap"]
            obj = self.build.find("ConfigMap", self.workload.namespace, source["name"])
            data = dict((obj.body.get("data") or {}) if obj else {})
        else:
            source = volume["secret"]
            obj = self.build.find("Secret", self.workload.namespace, source["secretName"])
            data = {k: base64.b64decode(v).decode() for k, v in ((obj.body.get("data") or {}) if obj else {}).items()}
            data.update((obj.body.get("stringData") or {}) if obj else {})
            if obj is None:
                # A Secret cert-manager writes from a Certificate of the build (rehearsal.certs).
                issued = certificate_secret(self.build, self.workload.namespace, source["secretName"])
                if issued is not None:
                    obj, data = self.workload, issued
        if obj is None:
            self.problems.append(f"volume {volume['name']}: {next(iter(volume.keys() - {'name'}))} object not found")
        items = source.get("items") or [{"key": k, "path": k} for k in data]
        for item in items:
            if item["key"] not in data:
                self.problems.append(f"volume {volume['name']}: key {item['key']} not found")
                continue
            target = path / item["path"]
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(data[item["key"]])
            target.chmod(0o644)

    # -- env -----------------------------------------------------------------------------------
    def _env(self, container: dict[str, Any], image: Image) -> dict[str, str]:
        env = dict(image.env)
        ns = self.workload.namespace
        for source in container.get("envFrom") or []:
            prefix = source.get("prefix", "")
            if "configMapRef" in source:
                obj = self.build.find("ConfigMap", ns, source["configMapRef"]["name"])
                values = dict((obj.body.get("data") or {}) if obj else {})
            else:
                obj = self.build.find("Secret", ns, source["secretRef"]["name"])
                values = {k: base64.b64decode(v).decode() for k, v in ((obj.body.get("data") or {}) if obj else {}).items()}
                values.update((obj.body.get("stringData") or {}) if obj else {})
            if obj is None:
                self.problems.append(f"container {container['name']}: envFrom {source} not found")
            env.update({prefix + k: str(v) for k, v in values.items()})
        for item in container.get("env") or []:
            if "value" in item:
                env[item["name"]] = str(item["value"])
                continue
            ref = item.get("valueFrom") or {}
            if "configMapKeyRef" in ref or "secretKeyRef" in ref:
                kind, key_ref = ("ConfigMap", ref["configMapKeyRef"]) if "configMapKeyRef" in ref else ("Secret", ref["secretKeyRef"])
                obj = self.build.find(kind, ns, key_ref["name"])
                values = dict((obj.body.get("data") or {}) if obj else {})
                if kind == "Secret":
                    values = {k: base64.b64decode(v).decode() for k, v in values.items()}
                    values.update((obj.body.get("stringData") or {}) if obj else {})
                if key_ref["key"] in values:
                    env[item["name"]] = str(values[key_ref["key"]])
                elif not key_ref.get("optional"):
                    self.problems.append(f"container {container['name']}: env {item['name']} from missing {kind} key")
            elif "fieldRef" in ref:
                field_path = ref["fieldRef"]["fieldPath"]
                env[item["name"]] = {
                    "metadata.name": f"{self.workload.name}-rehearsal", "metadata.namespace": ns,
                    "status.podIP": "127.0.0.1", "status.hostIP": "127.0.0.1", "spec.nodeName": "rehearsal",
                }.get(field_path, "")  # fmt: skip
        return env

    # -- containers ----------------------------------------------------------------------------
    def _user(self, container: dict[str, Any], image: Image) -> tuple[int, int]:
        pod_sc = self.spec.get("securityContext") or {}
        sc = container.get("securityContext") or {}
        uid = sc.get("runAsUser", pod_sc.get("runAsUser", image.user[0]))
        gid = sc.get("runAsGroup", pod_sc.get("runAsGroup", image.user[1]))
        return int(uid), int(gid)

    def _script(self, container: dict[str, Any], image: Image, volumes: dict[str, Path]) -> str:
        root = self.dir / f"root-{container['name']}"
        scratch = self.dir / f"scratch-{container['name']}"
        for path in (root, scratch):
            path.mkdir(parents=True, exist_ok=True)
        read_only = bool((container.get("securityContext") or {}).get("readOnlyRootFilesystem"))
        lines = [
            "set -eu",
            f"R={shlex.quote(str(root))}; S={shlex.quote(str(scratch))}",
            "mount -t tmpfs tmpfs \"$S\"",
            "mkdir -p \"$S/u\" \"$S/w\" \"$S/iu\" \"$S/iw\"",
            "mount -t overlay overlay -o lowerdir=/,upperdir=\"$S/u\",workdir=\"$S/w\" \"$R\"",
        ]
        if image.tree is not None:
            lines += [
                f"mkdir -p \"$R{image.path}\"",
                f"mount -t overlay overlay -o lowerdir={shlex.quote(str(image.tree))},upperdir=\"$S/iu\",workdir=\"$S/iw\" \"$R{image.path}\"",
            ]
        for directory in image.dirs:
            lines.append(f"mkdir -p \"$R{directory}\"")
        for link, target in image.links.items():
            lines.append(f"mkdir -p \"$R{os.path.dirname(link)}\"; ln -sf {shlex.quote(target)} \"$R{link}\"")
        mounts = sorted(container.get("volumeMounts") or [], key=lambda m: m["mountPath"].count("/"))
        for mount in mounts:
            source = volumes.get(mount["name"])
            if source is None:
                self.problems.append(f"container {container['name']}: volumeMount {mount['name']} has no volume")
                continue
            if mount.get("subPath"):
                source = source / mount["subPath"]
            target = "$R" + mount["mountPath"]
            quoted = shlex.quote(str(source))
            if source.is_dir():
                lines.append(f"mkdir -p \"{target}\"")
            else:
                lines.append(f"mkdir -p \"$(dirname \"{target}\")\"; [ -e \"{target}\" ] || touch \"{target}\"")
            lines.append(f"mount --bind {quoted} \"{target}\"")
            if mount.get("readOnly"):
                lines.append(f"mount -o remount,bind,ro \"{target}\"")
        lines += ["mount --rbind /dev \"$R/dev\"", "mount --rbind /proc \"$R/proc\""]
        if read_only:
            lines.append("mount -o remount,ro \"$R\"")
            if image.tree is not None:
                lines.append(f"mount -o remount,ro \"$R{image.path}\"")
        uid, gid = self._user(container, image)
        groups = ",".join(str(g) for g in {gid, self._fs_group() or gid})
        env = self._env(container, image)
        command = list(container["command"]) if container.get("command") else list(image.command)
        if container.get("args") is not None:
            command = (list(container["command"]) if container.get("command") else image.command[:1]) + list(container["args"])
        workdir = container.get("workingDir") or image.workdir
        env_args = " ".join(shlex.quote(f"{k}={v}") for k, v in sorted(env.items()))
        # How to run a command as this container (its start command, an exec probe).
        self.enter[container["name"]] = (
            f"chroot --userspec={uid}:{gid} --groups={groups} {shlex.quote(str(root))} /usr/bin/env -i {env_args} "
            f"/bin/sh -c {{}}",
            workdir,
        )
        lines.append("exec " + self.as_container(container["name"], command))
        return "\n".join(lines) + "\n"

    def as_container(self, name: str, command: list[str]) -> str:
        """A shell command running `command` as container `name` (inside its mount namespace)."""
        template, workdir = self.enter[name]
        run = " ".join(shlex.quote(c) for c in command)
        return template.format(shlex.quote(f"cd {shlex.quote(workdir)} && exec {run}"))

    def _run(self, container: dict[str, Any], volumes: dict[str, Path]) -> ContainerRun | None:
        image = self.images.get(container["image"])
        if image is None:
            self.skipped.append(f"container {container['name']} ({container['image']}) not played")
            return None
        script = self.dir / f"{container['name']}.sh"
        script.write_text(self._script(container, image, volumes))
        log = self.dir / f"{container['name']}.log"
        log.touch()
        # runc hands the container its stdio owned by the container's user (fixStdioPermissions),
        # so programs can reopen /dev/stderr; the log file stands in for that stdio.
        os.chown(log, *self._user(container, image))
        assert self.holder is not None
        process = subprocess.Popen(
            ["nsenter", f"--net=/proc/{self.holder.pid}/ns/net", "--", "unshare", "--mount",
             "--propagation", "private", "--", "sh", str(script)],
            stdout=log.open("wb"), stderr=subprocess.STDOUT, start_new_session=True, preexec_fn=die_with_parent,
        )  # fmt: skip
        return ContainerRun(container["name"], process, log)

    def start(self) -> bool:
        """Run the init containers, then start the containers. False when the pod cannot start."""
        require_root()
        volumes = self._volumes()
        self.holder = subprocess.Popen(
            # The pod's own address and its peer's (Traefik, a sibling pod) from the pod network,
            # so a container sees a forwarded client as it would in a cluster: a private pod IP,
            # not 127.0.0.1 (what TRUSTED_PROXIES and access rules are written against).
            ["unshare", "--net", "sh", "-c",
             f"ip link set lo up && ip addr add {POD_IP}/32 dev lo && ip addr add {PEER_IP}/32 dev lo"
             " && exec sleep 86400"],
            start_new_session=True, preexec_fn=die_with_parent,
        )  # fmt: skip
        time.sleep(0.05)
        for init in self.spec.get("initContainers") or []:
            run = self._run(init, volumes)
            if run is None:
                continue
            try:
                code = run.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                run.process.kill()
                code = -1
            if code != 0:
                self.problems.append(
                    f"init container {init['name']} exited {code}: {run.tail()}; the pod never gets Ready"
                )
                return False
        for container in self.spec.get("containers") or []:
            run = self._run(container, volumes)
            if run is not None:
                self.containers[container["name"]] = run
            for port in container.get("ports") or []:
                self._forward(int(port["containerPort"]))
                if port.get("name"):
                    self.port_names[port["name"]] = int(port["containerPort"])
        return True

    def _forward(self, container_port: int) -> None:
        listener = socket.socket()
        listener.bind(("127.0.0.1", 0))
        listener.listen(64)
        assert self.holder is not None
        process = subprocess.Popen(
            ["nsenter", f"--net=/proc/{self.holder.pid}/ns/net", "--", sys.executable, "-c", _FORWARDER,
             str(listener.fileno()), str(container_port), POD_IP, PEER_IP],
            pass_fds=(listener.fileno(),), start_new_session=True, preexec_fn=die_with_parent,
        )  # fmt: skip
        self.ports[container_port] = int(listener.getsockname()[1])
        listener.close()
        self.forwarders.append(process)

    def port(self, ref: int | str) -> int | None:
        """The loopback port here for a container port (number or name)."""
        number = self.port_names.get(str(ref)) if not str(ref).isdigit() else int(ref)
        return self.ports.get(number) if number is not None else None

    # -- probes --------------------------------------------------------------------------------
    def _probe_once(self, probe: dict[str, Any], container: str = "") -> tuple[bool, str]:
        if "httpGet" in probe:
            get = probe["httpGet"]
            port = self.port(get["port"])
            if port is None:
                return False, f"port {get['port']} is not a container port"
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=float(probe.get("timeoutSeconds", 1)))
            try:
                conn.putrequest("GET", get.get("path", "/"), skip_host=True, skip_accept_encoding=True)
                conn.putheader("Host", f"127.0.0.1:{get['port']}")
                conn.putheader("User-Agent", "kube-probe/1.33")
                conn.putheader("Accept", "*/*")
                for header in get.get("httpHeaders") or []:
                    conn.putheader(header["name"], header["value"])
                conn.endheaders()
                response = conn.getresponse()
                body = response.read(300).decode(errors="replace")
                return 200 <= response.status < 400, f"HTTP {response.status} {body.strip()[:80]!r}"
            except OSError as exc:
                return False, f"{type(exc).__name__}: {exc}"
            finally:
                conn.close()
        if "tcpSocket" in probe:
            port = self.port(probe["tcpSocket"]["port"])
            if port is None:
                return False, f"port {probe['tcpSocket']['port']} is not a container port"
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                    # The forwarder accepts first: a closed upstream shows as an immediate EOF.
                    s.settimeout(0.2)
                    try:
                        closed = s.recv(1) == b""
                    except socket.timeout:
                        closed = False
                    if not closed:
                        return True, "connected"
                    ref = str(probe["tcpSocket"]["port"])
                    number = int(ref) if ref.isdigit() else self.port_names.get(ref, 0)
                    if elsewhere := (listening_on(self.holder.pid, number) if self.holder else []):
                        return False, f"refused on the pod IP: the port listens on {', '.join(elsewhere)} only"
                    return False, "connection closed (nothing listens)"
            except OSError as exc:
                return False, str(exc)
        if "exec" in probe and container in self.containers:
            run = self.containers[container]
            proc = subprocess.run(
                ["nsenter", "-t", str(run.process.pid), "-m", "-n", "--", "sh", "-c",
                 self.as_container(container, list(probe["exec"]["command"]))],
                capture_output=True, text=True, timeout=float(probe.get("timeoutSeconds", 1)) + 5, check=False,
            )  # fmt: skip
            detail = (proc.stdout + proc.stderr).strip()[:80]
            return proc.returncode == 0, f"exit {proc.returncode} {detail!r}"
        return False, f"probe handler not played: {sorted(probe)}"

    def probe(self, container: dict[str, Any], kind: str) -> tuple[bool, str]:
        """Run a probe as the kubelet would until it succeeds or fails `failureThreshold` times.

        Before the first answer (and until one of its ports listens) the container gets START_BUDGET
        seconds. A tcpSocket refused on the pod IP while the port listens on another address of the
        pod (php-fpm on 127.0.0.1) is an answer: the container has started, waiting cannot change it.
        """
        probe = container.get(kind)
        if not probe:
            return True, "none"
        threshold = int(probe.get("failureThreshold", 3))
        deadline = time.monotonic() + START_BUDGET
        # An exec probe failing may only mean its program is still starting (slow on a busy
        # machine): count those after EXEC_GRACE. An HTTP status or a refusal is an answer at once.
        counted_from = time.monotonic() + EXEC_GRACE
        failures, last = 0, ""
        run = self.containers.get(container["name"])
        ports = [int(p["containerPort"]) for p in container.get("ports") or []]
        while time.monotonic() < deadline:
            if run is not None and run.process.poll() is not None:
                return False, f"container exited {run.process.returncode}: {run.tail()}"
            if ports and self.holder and not any(listening_on(self.holder.pid, port) for port in ports):
                # Still starting (no port of it listens): an exec probe failing now was a flake under load.
                time.sleep(PROBE_PERIOD)
                continue
            ok, last = self._probe_once(probe, container["name"])
            if ok:
                return True, last
            if last.startswith(("HTTP ", "refused ")) or (last.startswith("exit ") and time.monotonic() >= counted_from):
                failures += 1  # an answer: count failures as the kubelet does
                if failures >= threshold:
                    return False, last
            time.sleep(PROBE_PERIOD)
        return False, f"no answer within {START_BUDGET:.0f} s ({last})"

    def errors(self) -> str:
        """The pod's logged exceptions and errors (what `kubectl logs` would show), for findings."""
        lines = []
        for run in self.containers.values():
            text = run.log.read_text(errors="replace").splitlines() if run.log.exists() else []
            lines += [f"{run.name}: {line.strip()}" for line in text if "Exception" in line or "ERROR" in line][-2:]
        return f" (logs: {' | '.join(lines)})" if lines else ""

    def stop(self) -> None:
        for process in [*(c.process for c in self.containers.values()), *self.forwarders, self.holder]:
            if process is not None and process.poll() is None:
                try:
                    os.killpg(process.pid, 15)
                except ProcessLookupError:
                    pass
        for process in [*(c.process for c in self.containers.values()), *self.forwarders, self.holder]:
            if process is not None:
                try:
                    process.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, 9)
                    process.wait()
