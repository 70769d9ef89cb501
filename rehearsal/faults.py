"""Faults the metrics judge injects into the rig, and the alert meant for each."""

from __future__ import annotations

import re
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Callable

from rehearsal.base import Build
from rehearsal.rig import Rig, wait_port
from rehearsal.stage_view import StageView


@dataclass
class Scenario:
    """A fault and the alert meant for it. `batch` names the rig action that produces it: faults
    on different daemons are injected together (one wait for Prometheus, one snapshot of every
    stack); `repeat` faults keep happening (changed series keep changing at the same pace);
    `modelled` ones change the modelled series of a component that cannot run here."""

    name: str
    expect: str  # regex on alert names: at least one such alert must fire
    batch: str = ""
    repeat: bool = False
    modelled: Callable[[dict[str, float], datetime], dict[str, float]] | None = None
    applies: Callable[[Build], bool] = lambda build: True


def _queue_keys(build: Build) -> list[str]:
    """Laravel's Redis queue lists: `<REDIS_PREFIX>queues:<queue>` for each worker's --queue."""
    prefix = ""
    for cm in build.of_kind("ConfigMap"):
        data = cm.body.get("data") or {}
        if "REDIS_PREFIX" in data:
            prefix = str(data["REDIS_PREFIX"])
    queues: set[str] = set()
    for obj in build.of_kind("Deployment"):
        for c in ((obj.spec.get("template") or {}).get("spec") or {}).get("containers") or []:
            argv = [str(a) for a in [*(c.get("command") or []), *(c.get("args") or [])]]
            if "queue:work" not in argv:
                continue
            named = [a.split("=", 1)[1] for a in argv if a.startswith("--queue=")]
            queues.update(q for arg in named for q in arg.split(",")) if named else queues.add("default")
    return [f"{prefix}queues:{q}" for q in sorted(queues)]


def _redis_size(build: Build) -> int:
    return max((int(r.spec.get("clusterSize", 1)) for r in build.of_kind("RedisReplication")), default=0)


def _replicates(build: Build) -> bool:
    """A MariaDB with a replica pod: replication on and more than one pod."""
    return any((m.spec.get("replication") or {}).get("enabled") and int(m.spec.get("replicas", 1)) > 1
               for m in build.of_kind("MariaDB"))


def _has(kind: str) -> Callable[[Build], bool]:
    return lambda build: any(True for _ in build.of_kind(kind))


def _expiring(series: dict[str, float], now: datetime) -> dict[str, float]:
    soon = (now + timedelta(days=2)).timestamp()
    return {k: (soon if k.startswith(("certmanager_certificate_expiration", "certmanager_certificate_not_after")) else v)
            for k, v in series.items()}


REDIS_ALERT = r"(?i)redis(?!.*(queue|key))"
MARIADB_ALERT = r"(?i)(mariadb|mysql)(?!.*backup)"
SCENARIOS = [
    Scenario("a Redis replica stopped", REDIS_ALERT, "replicas", applies=lambda b: _redis_size(b) > 1),
    Scenario("Redis stopped", REDIS_ALERT, "primaries", applies=lambda b: _redis_size(b) == 1),
    Scenario("MariaDB replica stopped", MARIADB_ALERT, "replicas", applies=_replicates),
    Scenario("MariaDB stopped", MARIADB_ALERT, "primaries", applies=lambda b: _has("MariaDB")(b) and not _replicates(b)),
    Scenario("5000 jobs waiting in the Laravel queue", r"(?i)^(?!.*(dead|dlq|dlx)).*(queue|backlog)", "replicas",
             applies=lambda b: bool(_queue_keys(b))),
    Scenario("messages dead-lettered every minute", r"(?i)dead.?letter|dlq|dlx", "dead-letters", repeat=True,
             applies=_has("RabbitmqCluster")),
    Scenario("a certificate expiring in 2 days", r"(?i)certificate", modelled=_expiring, applies=_has("Certificate")),
]


class Faults:
    """The rig actions behind the scenarios' batches, for every stage of a run at once."""

    def __init__(self, rig: Rig, stages: list[StageView]) -> None:
        self.rig, self.stages = rig, stages

    def inject(self, batch: str) -> None:
        rig = self.rig
        if batch == "replicas":  # a backlog on the primary Redis, then a replica of each stops
            # The backlog first: the rig runs one Redis replica where the stack runs two, and
            # with the stack's `min-replicas-to-write 1` the master refuses writes (NOREPLICAS)
            # once the rig's only replica is gone, which the stack's second replica prevents.
            for key in sorted({k for st in self.stages for k in _queue_keys(st.build)}):
                rig.redis("EVAL", "for i=1,5000 do redis.call('RPUSH', KEYS[1], '{\"job\":\"rehearsal\"}') end", "1", key)
            rig.stop_process("redis-1")
            rig.stop_process("mariadb-1")
        elif batch == "primaries":
            rig.stop_process("redis-0")
            rig.stop_process("mariadb-0")
        elif batch == "dead-letters":
            for stage in self.stages:
                before = _dead_letter_count(stage)
                _dead_letter(stage)
                # Quorum queues dead-letter at-least-once through a separate process, and the
                # statistics the plugin reports follow collect_statistics_interval: wait for both.
                for _ in range(150):
                    if _dead_letter_count(stage) > before:
                        break
                    time.sleep(0.1)

    def restore(self, batch: str) -> None:
        rig = self.rig
        if batch == "replicas":
            for key in sorted({k for st in self.stages for k in _queue_keys(st.build)}):
                rig.redis("DEL", key)
            rig.start_redis("redis-1")
            rig.start_mariadb("mariadb-1")
            wait_port(rig.ports["redis-1"], 30)
            wait_port(rig.ports["mariadb-1"], 60)
        elif batch == "primaries":
            rig.start_redis("redis-0")
            rig.start_mariadb("mariadb-0")
            wait_port(rig.ports["redis-0"], 30)
            wait_port(rig.ports["mariadb-0"], 60)


def _dead_letter(stage: StageView) -> None:
    """One message per application queue, rejected until the delivery limit dead-letters it."""
    rig = stage.rig
    for queue in stage.app_queues:
        rig.rabbit_api(f"exchanges/{stage.vhost}/amq.default/publish", {
            "properties": {}, "routing_key": queue, "payload": "job", "payload_encoding": "string"})
        for _ in range(20):
            if not rig.rabbit_api(f"queues/{stage.vhost}/{queue}/get",
                                  {"count": 1, "ackmode": "reject_requeue_true", "encoding": "auto"}):
                break


def _dead_letter_count(stage: StageView) -> int:
    """Messages ready in the dead-letter queues, as the broker's Prometheus plugin reports them
    now (the management API's statistics lag by seconds)."""
    url = f"http://127.0.0.1:{stage.rig.ports['rabbitmq-prometheus']}/metrics/detailed?family=queue_coarse_metrics"
    with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310 - loopback only
        text = response.read().decode()
    vhost = urllib.parse.unquote(stage.vhost)
    return sum(int(float(m.group(2))) for m in re.finditer(
        r'^rabbitmq_detailed_queue_messages_ready\{vhost="([^"]*)",queue="[^"]*"\} (\S+)$', text, re.M)
        if m.group(1) == vhost and any(f'queue="{q}"' in m.group(0) for q in stage.dead_letter_queues))


def _purge_dead_letters(stage: StageView) -> None:
    for queue in stage.dead_letter_queues:
        stage.rig.rabbit_api(f"queues/{stage.vhost}/{queue}/contents", method="DELETE")
