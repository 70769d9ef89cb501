"""The two central data-safety promises, played on the real daemons (MariaDB 10.11 from Debian).

With the staging stack's rendered MariaDB settings (its `spec.myCnf`, replication, probes and
the binlog-flush CronJob):

1. a backup of a replica under write load, with the flags mariadb-operator v26.6.0 passes for a
   replica target (`--slave-info --safe-slave-backup`, pkg/command/backup.go:641-647),
   completes; the replica comes back, catches up and keeps every row; and the longest stretch
   its SQL thread was stopped, scaled up to the stack's database size at the measured
   throughput, stays inside the liveness window the stack sets (v26.6.0's agent /liveness
   fails while the SQL thread is stopped: pkg/agent/handler/replication/probe.go:78-83);
2. a restore of a point inside the RPO window, done the operator's way (mariadb-backup
   --prepare/--copy-back, then `TZ=UTC mariadb-binlog --start-position=<gtid>
   --stop-datetime=<target>` over the *archived* binlogs piped into the server: v26.6.0
   pkg/command/backup.go, binlog restore), returns exactly the rows written before that point.
   The archive holds closed binlogs only (pkg/binlog/archiver.go:188-190), so the stack's
   flush CronJob is what puts the last minutes' writes in it.

Everything starts once per session (two servers, one backup, one restore: a few seconds).
"""

from __future__ import annotations

import datetime as dt
import os
import re
import shutil
import signal
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import pytest
import yaml

from components.config.backup_timing import backup_timeout_minutes, quantity_mib
from rehearsal.ports import free_port
from tests.conftest import REPORT, Synth

DATA_NS = "saas-data"
# Rows loaded before the experiment, so the backup copies real pages (about 24 MB).
PRELOAD_ROWS = 12_000
PAYLOAD = 2000


@dataclass
class Server:
    """One mariadbd on loopback, in its own directory."""

    name: str
    root: Path
    port: int
    proc: subprocess.Popen[bytes] | None = None
    log: list[str] = field(default_factory=list)

    @property
    def datadir(self) -> Path:
        return self.root / "data"

    @property
    def socket(self) -> Path:
        return self.root / "mysqld.sock"

    def sql(self, statement: str, *, database: str | None = None, timeout: float = 30) -> str:
        args = ["mariadb", f"--socket={self.socket}", "--user=root", "--batch", "--skip-column-names"]
        if database:
            args.append(f"--database={database}")
        proc = subprocess.run([*args, "--execute", statement], capture_output=True, text=True, timeout=timeout)
        if proc.returncode != 0:
            raise RuntimeError(f"{self.name}: {statement!r}: {proc.stderr.strip()}")
        return proc.stdout.strip()

    def slave_status(self, timeout: float = 3) -> str:
        """`SHOW SLAVE STATUS` in vertical form, field names included."""
        proc = subprocess.run(
            ["mariadb", f"--socket={self.socket}", "--user=root", "--vertical", "--execute", "SHOW SLAVE STATUS"],
            capture_output=True, text=True, timeout=timeout,
        )
        if proc.returncode != 0:
            raise RuntimeError(f"{self.name}: SHOW SLAVE STATUS: {proc.stderr.strip()}")
        return proc.stdout

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None



def _replication_options(spec: dict[str, Any], server_id: int, *, primary: bool) -> str:
    """The server options mariadb-operator adds for replication (v26.6.0
    pkg/controller/replication/config.go): binlog, server id, GTID strictness and the
    semi-sync settings our spec chooses (wait point, ack timeout)."""
    replication = spec["replication"]
    wait_point = {"AfterSync": "AFTER_SYNC", "AfterCommit": "AFTER_COMMIT"}[replication.get("semiSyncWaitPoint", "AfterCommit")]
    timeout_ms = int(replication.get("semiSyncAckTimeout", "10s").rstrip("s")) * 1000
    lines = [
        f"server_id = {server_id}",
        "log_bin = mariadb-bin",
        f"gtid_strict_mode = {'ON' if replication.get('gtidStrictMode') else 'OFF'}",
    ]
    if primary:
        lines += [
            "rpl_semi_sync_master_enabled = ON",
            f"rpl_semi_sync_master_wait_point = {wait_point}",
            f"rpl_semi_sync_master_timeout = {timeout_ms}",
        ]
    else:
        lines += ["rpl_semi_sync_slave_enabled = ON", "read_only = ON"]
    return "\n".join(lines)


def _start(server: Server, my_cnf: str, extra: str, *, initialise: bool = True) -> None:
    server.root.mkdir(parents=True, exist_ok=True)
    (server.root / "tmp").mkdir(exist_ok=True)
    cnf = server.root / "my.cnf"
    # The stack's [mariadb] section as rendered, then what a pod adds (paths, port, ids).
    cnf.write_text(
        f"{my_cnf}\n[mariadb]\n{extra}\ndatadir = {server.datadir}\nsocket = {server.socket}\n"
        f"port = {server.port}\nbind_address = 127.0.0.1\npid_file = {server.root / 'mysqld.pid'}\n"
        f"log_error = {server.root / 'error.log'}\ninnodb_use_native_aio = OFF\ntmpdir = {server.root / 'tmp'}\ndefault_time_zone = '+00:00'\n"
    )
    if initialise:
        subprocess.run(
            ["mariadb-install-db", f"--defaults-file={cnf}", "--auth-root-authentication-method=socket",
             "--skip-test-db", "--user=" + _user()],
            check=True, capture_output=True, timeout=120,
        )
    server.proc = subprocess.Popen(
        ["mariadbd", f"--defaults-file={cnf}", "--user=" + _user()],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.proc.poll() is not None:
            raise RuntimeError(f"{server.name} exited:\n{(server.root / 'error.log').read_text()[-3000:]}")
        if server.socket.exists():
            try:
                server.sql("SELECT 1", timeout=5)
                return
            except RuntimeError:
                pass
        time.sleep(0.1)
    raise RuntimeError(f"{server.name} did not start:\n{(server.root / 'error.log').read_text()[-3000:]}")


def _user() -> str:
    import pwd

    return pwd.getpwuid(os.getuid()).pw_name


def _stop(*servers: Server) -> None:
    """SIGTERM to every server first, then wait: they shut down side by side."""
    running = [s.proc for s in servers if s.proc and s.proc.poll() is None]
    for proc in running:
        proc.send_signal(signal.SIGTERM)
    for proc in running:
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()


class Writer(threading.Thread):
    """The application: one insert after another on the primary, each row stamped with the
    server's NOW(6) (the statement's start time, which is also its binlog event time)."""

    def __init__(self, server: Server) -> None:
        super().__init__(daemon=True)
        self.server = server
        self.stop = threading.Event()
        self.paused = threading.Event()
        self.errors: list[str] = []
        self.inserted = 0

    def run(self) -> None:
        proc = subprocess.Popen(
            ["mariadb", f"--socket={self.server.socket}", "--user=root", "--database=app", "--batch"],
            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        )
        assert proc.stdin is not None
        while not self.stop.is_set():
            if self.paused.is_set():
                time.sleep(0.01)
                continue
            proc.stdin.write("INSERT INTO events (payload) VALUES (REPEAT('w', 200));\n")
            proc.stdin.flush()
            self.inserted += 1
            time.sleep(0.01)
        proc.stdin.close()
        proc.wait(timeout=30)
        if proc.returncode != 0 and proc.stderr:
            self.errors.append(proc.stderr.read())


class SlaveStatusSampler(threading.Thread):
    """What the agent's probes look at: `Slave_SQL_Running` (liveness) and
    `Seconds_Behind_Master` (readiness), sampled every 0.2 s."""

    def __init__(self, server: Server) -> None:
        super().__init__(daemon=True)
        self.server = server
        self.stop = threading.Event()
        self.samples: list[tuple[float, bool]] = []

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                status = self.server.slave_status()
                running = bool(re.search(r"Slave_SQL_Running: Yes", status))
            except (RuntimeError, subprocess.TimeoutExpired):
                running = False
            self.samples.append((time.monotonic(), running))
            time.sleep(0.2)

    def longest_stop(self) -> float:
        longest, since = 0.0, None
        for moment, running in self.samples:
            if not running and since is None:
                since = moment
            if running and since is not None:
                longest, since = max(longest, moment - since), None
        if since is not None:
            longest = max(longest, self.samples[-1][0] - since)
        return longest


@dataclass
class Experiment:
    spec: dict[str, Any]
    storage_bytes: int
    backup_returncode: int
    backup_log: str
    backup_bytes: int
    backup_seconds: float
    longest_sql_stop: float
    replica_alive: bool
    replica_rows: int
    primary_rows_at_backup_end: int
    target: dt.datetime
    expected_rows: int
    rows_after_target: int
    archived: list[str]
    restored_rows: int
    restored_max_created: dt.datetime | None
    flush_command: str


def _staging_manifest(synth: Synth, kind: str, name: str) -> dict[str, Any]:
    return synth.object(kind, name, DATA_NS)


def _flush_command(synth: Synth) -> str:
    """The SQL the stack's binlog-flush CronJob runs (its container command, as rendered)."""
    cron = _staging_manifest(synth, "CronJob", "mariadb-flush-binlogs")
    script = cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]["command"][-1]
    match = re.search(r"--execute='([^']+)'", script)
    assert match, script
    return match.group(1)


@pytest.fixture(scope="module")  # only this file: its servers stop when the file is done
def experiment(synthesized: dict[str, Synth], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Experiment]:
    for tool in ("mariadbd", "mariadb-install-db", "mariadb-backup", "mariadb-binlog", "mbstream", "mariadb"):
        assert shutil.which(tool), f"{tool} missing: run scripts/system-deps.sh (Debian mariadb-server, mariadb-backup)"
    synth = synthesized["staging"]
    assert synth.returncode == 0, synth.stderr
    spec = _staging_manifest(synth, "MariaDB", "mariadb")["spec"]
    # The flush CronJob is read first: without it the archive cannot reach the target.
    flush = _flush_command(synth)
    base = tmp_path_factory.mktemp("mariadb-experiment")
    primary = Server("primary", base / "primary", free_port())
    replica = Server("replica", base / "replica", free_port())
    restored = Server("restored", base / "restored", free_port())
    writer: Writer | None = None
    try:
        # The two servers are independent until replication is set up: start them side by side.
        with ThreadPoolExecutor(max_workers=2) as pool:
            list(pool.map(lambda args: _start(*args), [
                (primary, spec["myCnf"], _replication_options(spec, 10, primary=True)),
                (replica, spec["myCnf"], _replication_options(spec, 11, primary=False)),
            ]))  # fmt: skip
        # The replica is connected before the first write, as the operator does: a semi-sync primary
        # with no replica holds its first commit for the whole ack timeout (10 s on staging).
        # The replication user is the primary's own (not binlogged), so creating it waits for nobody.
        primary.sql(
            "SET SESSION sql_log_bin = 0; CREATE USER repl@'127.0.0.1' IDENTIFIED BY 'repl';"
            "GRANT REPLICATION SLAVE ON *.* TO repl@'127.0.0.1';"
        )
        replica.sql(
            f"CHANGE MASTER TO MASTER_HOST='127.0.0.1', MASTER_PORT={primary.port}, MASTER_USER='repl', "
            "MASTER_PASSWORD='repl', MASTER_USE_GTID=slave_pos; START SLAVE;"
        )
        _wait_semi_sync_client(primary)
        primary.sql(
            "CREATE DATABASE app; CREATE TABLE app.events (id BIGINT AUTO_INCREMENT PRIMARY KEY, "
            "created_at DATETIME(6) NOT NULL DEFAULT NOW(6), payload VARCHAR(2000)) ENGINE=InnoDB;"
        )
        # Preload (one statement per 1000 rows) so the backup has pages to copy.
        for _ in range(PRELOAD_ROWS // 1000):
            primary.sql(
                "INSERT INTO app.events (payload) SELECT REPEAT('p', %d) FROM "
                "app.seq_1_to_1000" % PAYLOAD
            )
        _wait_caught_up(primary, replica)

        writer = Writer(primary)
        writer.start()
        sampler = SlaveStatusSampler(replica)
        sampler.start()
        time.sleep(0.5)
        stream = base / "backup.xb"
        started = time.monotonic()
        with stream.open("wb") as out:
            backup = subprocess.run(
                ["mariadb-backup", f"--socket={replica.socket}", "--user=root", "--backup", "--stream=xbstream",
                 "--slave-info", "--safe-slave-backup", f"--target-dir={base / 'bk-tmp'}"],
                stdout=out, stderr=subprocess.PIPE, text=True, timeout=300,
            )
        backup_seconds = time.monotonic() - started
        time.sleep(1.0)
        sampler.stop.set()
        sampler.join()
        primary_rows_at_backup_end = int(primary.sql("SELECT COUNT(*) FROM app.events"))

        # A target inside the RPO window: the start of a second the writer is paused across,
        # so "before the target" is exact at the binlog's one-second event resolution.
        now = time.time()
        time.sleep(1.2 - (now % 1.0))
        writer.paused.set()
        time.sleep(1.05 - (time.time() % 1.0))
        target = dt.datetime.fromtimestamp(int(time.time()), dt.timezone.utc)
        time.sleep(0.1)
        expected_rows = int(primary.sql(
            f"SELECT COUNT(*) FROM app.events WHERE created_at < '{target:%Y-%m-%d %H:%M:%S}'"
        ))
        writer.paused.clear()
        time.sleep(1.0)
        writer.stop.set()
        writer.join()
        rows_after_target = int(primary.sql(
            f"SELECT COUNT(*) FROM app.events WHERE created_at >= '{target:%Y-%m-%d %H:%M:%S}'"
        ))
        # The stack's flush job, then what the agent archives: every closed binlog.
        primary.sql(flush)
        binlogs = [line.split("\t")[0] for line in primary.sql("SHOW BINARY LOGS").splitlines()]
        archived = [str(primary.datadir / b) for b in binlogs[:-1]]

        _wait_caught_up(primary, replica)
        replica_rows = int(replica.sql("SELECT COUNT(*) FROM app.events"))
        replica_alive = replica.alive() and "Slave_SQL_Running: Yes" in replica.slave_status()

        # ---- restore, the operator's way -------------------------------------------------
        extracted = base / "extracted"
        extracted.mkdir()
        with stream.open("rb") as source:
            subprocess.run(["mbstream", "-x", "-C", str(extracted)], stdin=source, check=True, timeout=120)
        subprocess.run(["mariadb-backup", "--prepare", f"--target-dir={extracted}"], check=True,
                       capture_output=True, timeout=120)
        restored.root.mkdir(parents=True)
        subprocess.run(["mariadb-backup", "--copy-back", f"--target-dir={extracted}", f"--datadir={restored.datadir}"],
                       check=True, capture_output=True, timeout=120)
        slave_info = (extracted / "xtrabackup_slave_info").read_text()
        gtid = re.search(r"gtid_slave_pos = '([^']+)'", slave_info)
        assert gtid, slave_info
        _start(restored, spec["myCnf"], "server_id = 20\nlog_bin = mariadb-bin", initialise=False)
        stop = target.strftime("%Y-%m-%d %H:%M:%S")
        replay = subprocess.run(
            f"TZ=UTC mariadb-binlog --start-position=\"{gtid.group(1)}\" --stop-datetime=\"{stop}\" "
            + " ".join(archived)
            + f" | mariadb --socket={restored.socket} --user=root",
            shell=True, capture_output=True, text=True, timeout=120,
        )
        assert replay.returncode == 0, replay.stderr
        restored_rows = int(restored.sql("SELECT COUNT(*) FROM app.events"))
        newest = restored.sql("SELECT MAX(created_at) FROM app.events")
        yield Experiment(
            spec=spec,
            storage_bytes=quantity_mib(spec["storage"]["size"]) * 1024 * 1024,
            backup_returncode=backup.returncode,
            backup_log=backup.stderr[-2000:],
            backup_bytes=stream.stat().st_size,
            backup_seconds=backup_seconds,
            longest_sql_stop=sampler.longest_stop(),
            replica_alive=replica_alive,
            replica_rows=replica_rows,
            primary_rows_at_backup_end=primary_rows_at_backup_end,
            target=target,
            expected_rows=expected_rows,
            rows_after_target=rows_after_target,
            archived=archived,
            restored_rows=restored_rows,
            restored_max_created=dt.datetime.fromisoformat(newest) if newest != "NULL" else None,
            flush_command=flush,
        )
    finally:
        if writer is not None:
            writer.stop.set()
        _stop(restored, replica, primary)


def _wait_semi_sync_client(primary: Server, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if primary.sql("SHOW STATUS LIKE 'Rpl_semi_sync_master_clients'").split()[-1] != "0":
            return
        time.sleep(0.05)
    raise AssertionError("the replica never connected to the primary as a semi-sync replica")


def _wait_caught_up(primary: Server, replica: Server, timeout: float = 60) -> None:
    position = primary.sql("SELECT @@gtid_binlog_pos")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if replica.sql(f"SELECT MASTER_GTID_WAIT('{position}', 1)") == "0":
            return
    status = replica.slave_status()
    raise AssertionError(f"replica did not reach {position}:\n{status}")


# ---- 1: a replica backup under load completes and the replica survives -------------------


def test_replica_backup_under_write_load_completes(experiment: Experiment) -> None:
    assert experiment.backup_returncode == 0, experiment.backup_log
    assert "completed OK!" in experiment.backup_log
    # `--safe-slave-backup` really stopped the SQL thread (v26.6.0's liveness failure cause).
    assert experiment.longest_sql_stop > 0


def test_replica_stays_up_and_keeps_every_row(experiment: Experiment) -> None:
    assert experiment.replica_alive
    assert experiment.replica_rows >= experiment.primary_rows_at_backup_end > PRELOAD_ROWS


def test_liveness_window_outlasts_a_full_size_replica_backup(experiment: Experiment) -> None:
    """The SQL thread is stopped for the whole copy. Scaled to the stack's volume at the
    throughput measured here (conservative: a small backup is mostly fixed cost), that stop
    must end before the agent's /liveness failures restart mariadbd (period x threshold from
    the rendered spec; the kubelet default is 10 s x 3 when the spec sets none: v26.6.0
    pkg/builder/container_builder.go:879-898), and before the backup's own timeout."""
    probe = experiment.spec.get("livenessProbe", {})
    window = probe.get("periodSeconds", 10) * probe.get("failureThreshold", 3)
    throughput = experiment.backup_bytes / max(experiment.backup_seconds, 0.1)
    full_size_stop = experiment.longest_sql_stop * experiment.storage_bytes / experiment.backup_bytes
    assert full_size_stop < window, (
        f"a {experiment.storage_bytes >> 30} GiB backup stops the SQL thread ~{full_size_stop:.0f} s "
        f"(measured {throughput / 1e6:.0f} MB/s), liveness restarts the replica after {window} s"
    )
    REPORT.append(
        f"data-safety experiment: replica backup {experiment.backup_bytes / 1e6:.0f} MB in "
        f"{experiment.backup_seconds:.1f} s ({throughput / 1e6:.0f} MB/s), SQL thread stopped "
        f"{experiment.longest_sql_stop:.1f} s; at {experiment.storage_bytes >> 30} GiB ~{full_size_stop:.0f} s "
        f"vs liveness window {window} s"
    )
    backup_timeout = backup_timeout_minutes(experiment.spec["storage"]["size"]) * 60
    assert full_size_stop < backup_timeout < window


# ---- 2: a restore of a point inside the RPO window returns the rows written before it ----


def test_archive_reaches_a_target_inside_the_rpo_window(experiment: Experiment) -> None:
    # Strict mode (what the stack's PointInTimeRecovery sets) refuses a target the archive
    # does not cover; here the archive is the closed binlogs after the stack's flush job.
    assert experiment.flush_command.upper() == "FLUSH BINARY LOGS"
    assert experiment.archived, "no closed binlog to archive"


def test_point_in_time_restore_returns_exactly_the_rows_before_the_target(experiment: Experiment) -> None:
    assert experiment.expected_rows > experiment.primary_rows_at_backup_end - 50  # writes continued
    assert experiment.rows_after_target > 0  # and went on after the target
    assert experiment.restored_rows == experiment.expected_rows
    assert experiment.restored_max_created is not None
    assert experiment.restored_max_created < experiment.target.replace(tzinfo=None)
