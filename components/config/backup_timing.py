"""How long a full physical backup takes, and the timeout and probe window that follow.

Pure arithmetic without Pulumi imports, here in the config package so config can check a backup
schedule against it before any resource is registered (data-safety review #14); the data layer
sizes its backup timeout and agent probes from the same numbers.
"""

from __future__ import annotations

import re

# A backup must end before the next one is due; the operator deletes the Job after this
# (v26.6.0 internal/controller/physicalbackup_controller_job.go:220-231). The floor of every
# tier; a database too large to copy in it gets `backup_timeout_minutes` (data-safety #14).
BACKUP_TIMEOUT_MINUTES = 55
# Replica backup throughput with the operator's flags, measured by
# tests/test_data_safety_experiment.py (docs/operations.md "RPO and RTO per stack"); a cloud
# volume is faster (gp3 baseline 125 MB/s), so durations computed from it are the slow case.
BACKUP_THROUGHPUT_MB_S = 47
# Headroom of the timeout over the computed duration (upload, a busier replica).
BACKUP_TIMEOUT_FACTOR = 1.5
# Agent liveness period (v26.6.0 pkg/builder/container_builder.go:879-898 sets the probe;
# the project sets the thresholds): `--safe-slave-backup` stops the replica's SQL thread for
# the whole backup and v26.6.0's /liveness fails while it is stopped (probe.go:78-83).
LIVENESS_PERIOD_SECONDS = 30

_UNITS_MIB = {"Mi": 1, "Gi": 1024, "Ti": 1024 * 1024}


def quantity_mib(quantity: str) -> int:
    """`2Gi` -> 2048. Only the binary units our config accepts."""
    match = re.fullmatch(r"([1-9][0-9]*)(Mi|Gi|Ti)", quantity)
    if not match:
        raise ValueError(f"unsupported quantity {quantity!r}")
    return int(match.group(1)) * _UNITS_MIB[match.group(2)]


def full_backup_minutes(storage: str) -> int:
    """Minutes a full physical backup of a `storage`-sized database takes at the measured
    throughput (the volume's size: the worst case)."""
    megabytes = quantity_mib(storage) * 1.048576
    return -(-int(megabytes / BACKUP_THROUGHPUT_MB_S) // 60)


def backup_timeout_minutes(storage: str) -> int:
    """The PhysicalBackup `timeout`: the floor, or the computed duration with headroom."""
    return max(BACKUP_TIMEOUT_MINUTES, -(-int(full_backup_minutes(storage) * BACKUP_TIMEOUT_FACTOR) // 5) * 5)


def liveness_failures(storage: str) -> int:
    """The agent's liveness threshold: the window outlasts the longest backup (see above)."""
    return (backup_timeout_minutes(storage) * 60) // LIVENESS_PERIOD_SECONDS + 10
