"""Data-safety review #14: the full backup's cadence and timeout follow the database's size.

A full physical backup streams the whole database at the throughput measured by
tests/test_data_safety_experiment.py (~47 MB/s, docs/operations.md "RPO and RTO per stack").
mariadb-operator v26.6.0 deletes a backup Job that outlives `spec.timeout`
(internal/controller/physicalbackup_controller_job.go:220-231), so a timeout below the copy
time kills every backup; a schedule whose runs come closer than the timeout piles them up.
The large tier (200 GiB) cannot be copied within an hour: it takes daily fulls, and the RPO
rests on the binlog archive (FLUSH BINARY LOGS every 10 min).
"""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from components import config
from tests.conftest import ROOT, Synth, parse_config, run_synth

DATA_NS = "saas-data"
# Measured by tests/test_data_safety_experiment.py on these machines (docs/operations.md).
MEASURED_MB_PER_SECOND = 47
RPO_MINUTES = 60
_UNITS = {"Gi": 1024**3, "Ti": 1024**4, "Mi": 1024**2}


def _bytes(quantity: str) -> int:
    return int(quantity[:-2]) * _UNITS[quantity[-2:]]


def _minutes(duration: str) -> int:
    return int(duration[:-1]) * {"m": 1, "h": 60}[duration[-1]]


def _gap_minutes(cron: str) -> int:
    """Longest wait between runs of the two shapes the stacks use: hourly and daily."""
    minute, hour, *days = cron.split()
    assert days == ["*", "*", "*"] and minute.isdigit(), cron
    if hour == "*":
        return 60
    if hour.startswith("*/"):
        return int(hour[2:]) * 60
    assert hour.isdigit(), cron
    return 24 * 60


@pytest.fixture(scope="module")
def large_prod(tmp_path_factory: pytest.TempPathFactory) -> Synth:
    """Production at `size: large`, synthesized once (policies included: exit 0 means the
    database-backup-rpo policy accepts the cadence)."""
    base = tmp_path_factory.mktemp("large")
    values = yaml.safe_load((ROOT / "Pulumi.prod.yaml").read_text())["config"]
    values["saas-platform:size"] = "large"
    # Three servers behind MaxScale in production need its licence (docs/components.md, MaxScale).
    values.setdefault("saas-platform:data", {}).setdefault("maxscale", {})["licensed"] = True
    stack_file = base / "Pulumi.large.yaml"
    stack_file.write_text(yaml.safe_dump({"config": values}))
    proc = run_synth("prod", base / "out", "--stack-file", str(stack_file))
    synth = Synth.load("prod", base / "out", proc)
    assert proc.returncode == 0, f"synth prod (large) failed:\n{proc.stdout}\n{proc.stderr}"
    return synth


def _check_cadence(synth: Synth) -> dict[str, Any]:
    mariadb = synth.object("MariaDB", "mariadb", DATA_NS)["spec"]
    backup = synth.object("PhysicalBackup", "mariadb-physical", DATA_NS)["spec"]
    copy_minutes = _bytes(mariadb["storage"]["size"]) / (MEASURED_MB_PER_SECOND * 1e6) / 60
    timeout = _minutes(backup["timeout"])
    gap = _gap_minutes(backup["schedule"]["cron"])
    assert timeout > copy_minutes, (
        f"a {mariadb['storage']['size']} backup takes ~{copy_minutes:.0f} min at {MEASURED_MB_PER_SECOND} MB/s; "
        f"the operator deletes it after {timeout} min"
    )
    assert gap >= timeout, f"backups every {gap} min with a {timeout} min timeout overlap"
    # The replica's liveness window outlasts the backup (SQL thread stopped throughout).
    probe = mariadb["livenessProbe"]
    assert probe["periodSeconds"] * probe["failureThreshold"] > timeout * 60
    # The RPO rests on the binlogs: the flush job closes one well within the RPO.
    flush = synth.object("CronJob", "mariadb-flush-binlogs", DATA_NS)["spec"]["schedule"]
    assert flush.startswith("*/") and int(flush.split()[0][2:]) <= RPO_MINUTES
    return {"timeout": timeout, "gap": gap, "copy": copy_minutes}


def test_large_tier_backups_complete_within_their_timeout_and_cadence(large_prod: Synth) -> None:
    seen = _check_cadence(large_prod)
    # 200 GiB at 47 MB/s is ~76 min: longer than an hour, so the full backup is daily.
    assert seen["copy"] > 60 and seen["gap"] == 24 * 60
    assert not [f for f in large_prod.findings if f["policy"] == "database-backup-rpo"]


def test_medium_and_small_keep_hourly_fulls(stack: Synth) -> None:
    if stack.stack == "dev":
        assert not stack.objects("PhysicalBackup", DATA_NS)
        return
    seen = _check_cadence(stack)
    assert seen["gap"] == 60


def test_hourly_fulls_of_a_large_database_are_refused() -> None:
    values = {k.split(":", 1)[1]: v for k, v in yaml.safe_load((ROOT / "Pulumi.prod.yaml").read_text())["config"].items()
              if k.startswith("saas-platform:")}
    values.update(size="large", data={"backups": {"schedule": "0 * * * *"}, "maxscale": {"licensed": True}})
    with pytest.raises(config.ConfigError, match=r"data.backups.schedule: '0 \* \* \* \*' is hourly but a full backup of 200Gi takes ~7\d min"):
        parse_config(values, "prod")


def test_daily_fulls_are_accepted_and_weekly_refused() -> None:
    values = {k.split(":", 1)[1]: v for k, v in yaml.safe_load((ROOT / "Pulumi.staging.yaml").read_text())["config"].items()
              if k.startswith("saas-platform:")}
    assert parse_config({**values, "data": {"backups": {"schedule": "30 1 * * *"}}}, "staging").data.backup_schedule == "30 1 * * *"
    with pytest.raises(config.ConfigError, match=r"data.backups.schedule: '0 2 \* \* 0' does not run every day"):
        parse_config({**values, "data": {"backups": {"schedule": "0 2 * * 0"}}}, "staging")


