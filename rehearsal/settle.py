"""When the metrics judge may read what Prometheus scraped: adaptive waits, robust on a loaded machine.

A fixed count of scrapes is both slow on a quiet machine and wrong on a busy one: there a scrape
can time out, Prometheus marks the target's series stale, and a snapshot taken then misses them
(a healthy rehearsal then looks like MariaDB is down). So each wait here ends as soon as every
target has answered a scrape that started after the change (plus the daemons' statistics lag),
retries a scrape that timed out, and a snapshot counts only if no target failed a scrape while
it was taken; a target that fails for another reason (a wrong path, a refused connection) is
an answer: the judge reports it.
"""

from __future__ import annotations

import re
import time
from datetime import datetime
from typing import Any, Callable, Protocol, TypeVar

SCRAPE_INTERVAL = 1.0  # seconds; the scrape timeout too (Prometheus allows no longer)
# RabbitMQ reports queue statistics every 500 ms (the rig's collect_statistics_interval and
# quorum_tick_interval): a scrape must start this long after a change to see it.
STATISTICS_LAG = 0.6
DEADLINE = 90.0  # seconds a wait may take on a very busy machine before the judge reports what it saw
ATTEMPTS = 4  # snapshots retried because a scrape failed while they were taken
# How often a wait asks each Prometheus for its targets. Every ask is an HTTP request and a JSON
# parse on both sides: at a tenth of the interval, nine servers waited on under load spent more
# CPU asking than scraping, which slowed the scrapes they waited for.
POLL = SCRAPE_INTERVAL / 4


class Scraping(Protocol):
    def api(self, path: str, **params: str) -> Any: ...


T = TypeVar("T")


def _timed_out(target: dict[str, Any]) -> bool:
    """A scrape that ran out of time: the machine was busy, another scrape will answer."""
    error = str(target.get("lastError", ""))
    return target.get("health") != "up" and ("deadline exceeded" in error or "Timeout" in error)


def _answered(stage: Scraping, since: float) -> bool:
    active = stage.api("targets", state="active")["activeTargets"]
    return bool(active) and all(timestamp(t.get("lastScrape", "")) > since and not _timed_out(t) for t in active)


def settle(stages: list[Scraping], lag: float = STATISTICS_LAG) -> float:
    """Wait until every target of every stage has answered a scrape that started `lag` seconds
    from now or later. Returns that start time (epoch seconds)."""
    since = time.time() + lag
    deadline = time.monotonic() + DEADLINE
    pending = list(stages)
    while pending and time.monotonic() < deadline:
        pending = [stage for stage in pending if not _answered(stage, since)]
        if pending:
            time.sleep(POLL)
    return since


def _failed_since(stage: Scraping, since: float) -> bool:
    """Whether a target that is healthy at the end of the window failed a scrape within it
    (Prometheus records `up` 0 for every failed scrape, at the scrape's start)."""
    window = max(1, int((time.time() - since) * 1000))
    flaky = stage.api("query", query=f"min_over_time(up[{window}ms]) == 0")["result"]
    if not flaky:
        return False
    failing_now = {_key(t["labels"]) for t in stage.api("targets", state="active")["activeTargets"]
                   if t.get("health") != "up" and not _timed_out(t)}
    return any(_key({k: v for k, v in r["metric"].items() if k != "__name__"}) not in failing_now for r in flaky)


def _key(labels: dict[str, str]) -> frozenset[tuple[str, str]]:
    return frozenset(labels.items())


def observe(stages: list[Scraping], read: Callable[[Scraping], T], lag: float = STATISTICS_LAG,
            suspect: Callable[[T], bool] | None = None) -> list[T]:
    """Settle, then `read` every stage; read a stage again (up to ATTEMPTS) while a target that
    answers failed a scrape meanwhile (its series were stale for a moment and the reading may lack
    them) or while `suspect` says its reading shows a hiccup of a busy machine. What lasts through
    every attempt is the reading the judge reports."""
    out: dict[int, T] = {}
    pending = list(range(len(stages)))
    for attempt in range(ATTEMPTS):
        since = settle([stages[i] for i in pending], lag if attempt == 0 else 0.0)
        for i in pending:
            out[i] = read(stages[i])
        pending = [i for i in pending if _failed_since(stages[i], since) or (suspect is not None and suspect(out[i]))]
        if not pending:
            break
    return [out[i] for i in range(len(stages))]


def backend_down(series: dict[str, float]) -> bool:
    """An exporter reporting its daemon unreachable (`mysql_up 0`, `redis_up 0`) on the healthy
    rehearsal, where every daemon runs: on a loaded machine the exporter's own query can outlast
    its share of the scrape timeout (mysqld_exporter: the timeout less 0.25 s) and that scrape
    says the daemon is down. Worth reading again; a lasting one is reported."""
    return any(text.split("{", 1)[0].endswith("_up") and value == 0 for text, value in series.items())


def timestamp(text: str) -> float:
    """Prometheus' RFC 3339 timestamps (nanoseconds) as epoch seconds."""
    match = re.match(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?(Z|[+-]\d\d:\d\d)", text)
    if not match:
        return 0.0
    base = datetime.fromisoformat(match.group(1) + (match.group(3).replace("Z", "+00:00")))
    return base.timestamp() + float("0" + (match.group(2) or ""))
