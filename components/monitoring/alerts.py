"""Alert rules: the real rule files in `components/files/alerts/*.yaml` (checked with
`promtool check rules` and unit tested with `promtool test rules`), as this stack deploys them,
one PrometheusRule each."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components import k8s as kube
from components.config import StackConfig

ALERTS_DIR = Path(__file__).resolve().parent.parent / "files" / "alerts"


# Data-safety alerts about backups and the point-in-time archive (components/files/alerts/
# data.yaml, group saas-data-safety): only stacks with backups deploy them.
BACKUP_ONLY_ALERTS = frozenset({"MariaDBRecoverablePointStale", "MariaDBBackupFailing", "MariaDBBinlogArchivalFailing"})
# Replication alerts (data.yaml): only stacks whose MariaDB replicates deploy them (mysqld-exporter
# exports `mysql_slave_status_*` from a replica only; semi-sync and primary index need one).
REPLICATION_ONLY_ALERTS = frozenset({"MariaDBReplicaLagging", "MariaDBSemiSyncOff", "MariaDBPrimaryChanged"})
# Recovery-drill alerts (drills.yaml): only stacks that run the drill (`data.drills`).
DRILL_ONLY_ALERTS = frozenset({
    "MariaDBRecoveryDrillFailed", "MariaDBRecoveryDrillMissing", "MariaDBRecoveryDrillSlow", "MariaDBRecoveryDrillDataStale",
})


# The rule file of MaxScale (medium/large tiers): deployed only with MaxScale.
MAXSCALE_RULES = "maxscale"


def alert_rule_files() -> dict[str, dict[str, Any]]:
    """Every rule file by stem (`traefik` -> {"groups": [...]})."""
    return {path.stem: kube.load_yaml(path.read_text()) for path in sorted(ALERTS_DIR.glob("*.yaml"))}


def stack_alert_rules(cfg: StackConfig) -> dict[str, dict[str, Any]]:
    """The rule files as this stack deploys them: a rule about something the stack does not
    run is left out (it could only fire for ever, or never): the backup-age rule without
    backups (development), whose `absent(...)` would page for ever, and the replication rules
    without a replica, whose series (`mysql_slave_status_*`, the primary index) never exist."""
    from components.data.mariadb_base import is_replicated

    skip = set() if cfg.data.backups_enabled else {"MariaDBBackupTooOld", *BACKUP_ONLY_ALERTS}
    if not is_replicated(cfg):
        skip |= REPLICATION_ONLY_ALERTS
    if cfg.data.drills is None:
        skip |= DRILL_ONLY_ALERTS
    files = alert_rule_files()
    from components.data import maxscale

    if not maxscale.enabled(cfg):
        # MaxScale's rules (maxscale.yaml) only where MaxScale runs: its series never exist elsewhere.
        files.pop(MAXSCALE_RULES, None)
    for document in files.values():
        for group in document["groups"]:
            group["rules"] = [rule for rule in group["rules"] if rule.get("alert") not in skip]
        document["groups"] = [group for group in document["groups"] if group["rules"]]
    # A file left without rules (the drill's, where there is no drill) is not deployed.
    return {stem: document for stem, document in files.items() if document["groups"]}


def prometheus_rules(config: StackConfig, namespace: pulumi.Input[str], opts: pulumi.ResourceOptions) -> None:
    """One PrometheusRule per rule file; `opts` waits for the release that installs the CRD."""
    for stem, document in stack_alert_rules(config).items():
        k8s.apiextensions.CustomResource(
            f"rules-{stem}",
            api_version="monitoring.coreos.com/v1",
            kind="PrometheusRule",
            metadata=kube.metadata(f"saas-{stem}", "alert-rules", namespace, app="prometheus"),
            spec={"groups": document["groups"]},
            opts=opts,
        )
