"""rehearsal/settle.py: the metrics judge reads a stage again while its reading shows a hiccup of
a busy machine, and reports what lasts (no daemons: a stand-in for Prometheus' API)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from rehearsal import settle


class AlwaysScraped:
    """Prometheus' API as a stage that scraped every target just now and saw no failed scrape."""

    def api(self, path: str, **params: str) -> Any:
        if path == "targets":
            later = (datetime.now(timezone.utc) + timedelta(seconds=5)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
            return {"activeTargets": [{"health": "up", "lastScrape": later, "labels": {"job": "mysqld"}}]}
        return {"result": []}  # min_over_time(up[...]) == 0: nothing


def test_a_backend_down_hiccup_on_the_healthy_reading_is_read_again() -> None:
    readings = iter([{'mysql_up{instance="a"}': 0.0}, {'mysql_up{instance="a"}': 1.0}])
    seen = settle.observe([AlwaysScraped()], lambda stage: next(readings), lag=0.0, suspect=settle.backend_down)
    assert seen == [{'mysql_up{instance="a"}': 1.0}]


def test_a_lasting_backend_down_is_what_the_judge_reports() -> None:
    reads: list[int] = []

    def read(stage: Any) -> dict[str, float]:
        reads.append(1)
        return {'redis_up{instance="b"}': 0.0, "redis_connected_clients": 3.0}

    seen = settle.observe([AlwaysScraped(), AlwaysScraped()], read, lag=0.0, suspect=settle.backend_down)
    assert seen == [{'redis_up{instance="b"}': 0.0, "redis_connected_clients": 3.0}] * 2
    assert len(reads) == 2 * settle.ATTEMPTS  # each stage read again until the attempts run out


def test_only_exporter_up_gauges_at_zero_are_suspect() -> None:
    assert settle.backend_down({'mysql_up{instance="a"}': 0.0})
    assert not settle.backend_down({'mysql_up{instance="a"}': 1.0, "rabbitmq_queue_messages_ready": 0.0})
    assert not settle.backend_down({"mysql_global_status_uptime": 0.0})
