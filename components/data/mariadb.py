"""MariaDB through mariadb-operator: replication, backups, point-in-time recovery, app credentials.

One `MariaDB` with asynchronous replication (primary + replicas per tier, automatic failover);
the operator creates the `<name>-primary` and `<name>-secondary` Services the backend uses for
its read/write split. Outside development a scheduled `PhysicalBackup` (mariadb-backup to S3)
is the full base backup of a `PointInTimeRecovery` that archives closed binary logs; the
MariaDB references it, so its agent sidecar uploads every binlog the server closes.

Restore is configuration (docs/operations.md, "Restore"): `data.mariadb.restore.targetTime`
renders a *new* MariaDB `mariadb-r<digits>` bootstrapped from the point-in-time archive of the
instance in service (`data.mariadb.instance`); the endpoints move to it while the old instance
stays rendered, untouched, so nothing protected is removed and its application user is never
dropped. Finishing the restore is `data.mariadb.instance: mariadb-r<digits>` without `restore`;
a second restore then reads the archive of the restored instance, not the original one. The
old instance then leaves the program: in production it stays in the cluster (`protect` +
`retainOnDelete`, unprotected on purpose); elsewhere the object goes but its volumes stay
(`pvcRetentionPolicy: Retain`), and its archive in S3 is untouched.

Why the numbers (RPO 1 h, docs/operations.md "RPO and RTO"): only closed binlogs are archived
(every 10 min, by the primary's agent), so a CronJob closes the binlog every
`BINLOG_FLUSH_MINUTES` and a quiet primary's writes reach the archive within about 20 min; the
64 MB `max_binlog_size` closes busy binlogs sooner. Binlog timelines cannot cross a primary
change (mariadb-operator v26.6.0 pkg/binlog/binlog.go), so a second CronJob triggers an
on-demand full backup whenever `status.currentPrimary` changes. Full backups run hourly where
one fits in the hour and daily in the large tier (a 200 GiB copy takes longer than an hour at
the measured throughput, data-safety review #14): the RPO rests on the archived binlogs, the
full backup bounds how many of them a restore replays. Backups survive their own run: the
timeout is sized from the database and the replica's liveness window outlasts it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random

from components import k8s as kube
from components.platform import charts
from components.config import StackConfig
from components.contracts import MariaDBEndpoints, S3Access
from components.data import maxscale
from components.data.archive_preflight import archive_preflight
from components.data.backups import StorageFor, backup_pair, s3_storage
from components.data.common import DATA_STORE_LABEL, service_host
from components.data.mariadb_base import (
    APP_DATABASE,
    APP_USER,
    API_VERSION,
    AWS_CLI_IMAGE,
    BASE_NAME,
    CRDS_CHART,
    GUARD_LABEL,
    KUBECTL_IMAGE,
    OPERATOR_CHART,
    PORT,
    WAIT_READY,
    app_connection_demand,
    instance_name,
    is_replicated,
    pitr_name_of,
    staging_storage,
)
from components.data.mariadb_spec import mariadb_spec, operator_values
from components.data.maintenance import binlog_pruner, pitr_guard

TYPE = "saas-platform:index:MariaDB"


@dataclass(frozen=True)
class MariaDBArgs:
    """Inputs of the MariaDB store.

    config: resolved stack config (tier -> replicas, sizing, backups, restore target).
    namespace: the data namespace the database runs in.
    operator_namespace: where the operator and its CRDs' chart are installed.
    backups: S3 bucket, endpoint and credentials for physical backups and binlogs.
    backup_dependencies: what serves that bucket (the in-cluster object storage release and its
        bucket hook): the first, immediate backup would otherwise fail against a missing bucket.
    """

    config: StackConfig
    namespace: pulumi.Input[str]
    operator_namespace: pulumi.Input[str]
    backups: S3Access
    backup_dependencies: Sequence[pulumi.Resource] = ()



class MariaDB(pulumi.ComponentResource):
    """mariadb-operator (CRDs + controller) and the application's replicated MariaDB."""

    endpoints: MariaDBEndpoints
    ready: list[pulumi.Resource]
    """The CRs that report readiness the engine awaits (MariaDB, Database, User, Grant)."""
    instance: pulumi.Output[str]
    """Name of the MariaDB object serving the application."""
    instance_name: str
    credentials_name: pulumi.Output[str]
    """The Secret holding `root-password` and `app-password`."""

    def __init__(self, name: str, args: MariaDBArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(TYPE, name, None, opts)
        cfg = args.config
        data = cfg.data
        ns = args.namespace
        child = pulumi.ResourceOptions(parent=self)
        # Retained on delete exactly where protected (production). Elsewhere `pulumi destroy`
        # deletes these objects while their operator still runs, so it can clear its finalizers
        # (database/user/grant.k8s.mariadb.com/finalizer, mariadb-operator v26.6.0
        # internal/controller/*_controller_finalizer.go); a retained object would keep them
        # after the operator is uninstalled and leave the data namespace stuck Terminating.
        stateful = pulumi.ResourceOptions(parent=self, protect=cfg.protect, retain_on_delete=cfg.protect)
        self._stateful = stateful

        # This chart templates the CRDs, so uninstalling it would delete every MariaDB and
        # backup object: keep the release when it leaves the program, protect it in prod.
        crds = charts.release(
            "mariadb-operator-crds", CRDS_CHART, args.operator_namespace, {},
            pulumi.ResourceOptions(parent=self, protect=cfg.protect, retain_on_delete=True),
        )
        operator = charts.release(
            "mariadb-operator", OPERATOR_CHART, args.operator_namespace, operator_values(cfg),
            pulumi.ResourceOptions(parent=self, depends_on=[crds]),
        )
        self._operator = operator

        # ---- credentials ---------------------------------------------------------------
        # Protected in production like the data they open: a replaced password is a new
        # Secret the running pods never read (docs/operations.md, "Password rotation").
        secret_opts = pulumi.ResourceOptions(parent=self, protect=cfg.protect)
        root_password = random.RandomPassword("mariadb-root-password", length=32, special=False, opts=secret_opts)
        app_password = random.RandomPassword("mariadb-app-password", length=32, special=False, opts=secret_opts)
        credentials = k8s.core.v1.Secret(
            "mariadb-credentials",
            metadata=kube.metadata("mariadb-credentials", "mariadb", ns, app=BASE_NAME),
            type="Opaque",
            string_data={"root-password": root_password.result, "app-password": app_password.result},
            opts=child,
        )
        self._secret_name = credentials.metadata.name
        self._credentials = credentials
        self._storage: StorageFor | None = None
        self._backups: S3Access | None = None
        if data.backups_enabled:
            s3_secret = k8s.core.v1.Secret(
                "mariadb-backup-s3",
                metadata=kube.metadata("mariadb-backup-s3", "mariadb", ns, app=BASE_NAME),
                type="Opaque",
                string_data={
                    "access-key-id": args.backups.access_key_id,
                    "secret-access-key": args.backups.secret_access_key,
                },
                opts=child,
            )

            def storage(prefix: str) -> dict[str, object]:
                return s3_storage(args.backups, s3_secret.metadata.name, prefix)

            self._storage = storage
            self._backups = args.backups
            self._s3_secret_name = s3_secret.metadata.name
            self._after_storage = list(args.backup_dependencies)

        serving = data.instance
        name = instance_name(data.restore_target, serving)
        if data.restore_target:
            # The instance in service until now: its archive is what the restore reads. On the
            # same cluster it stays rendered exactly as it was, backups included (no diff:
            # nothing protected is removed, its application user is never dropped under pods
            # still connected to it, stray writes to it are still archived). On a rebuilt
            # cluster only its archive is rendered, suspended, so nothing writes into its
            # prefixes (docs/operations.md, "Cluster loss").
            if data.restore_new_cluster:
                if self._storage:
                    backup_pair(
                        serving, ns, cfg, self._storage, suspended=True,
                        depends_on=[self._operator, *self._after_storage], parent=self,
                    )
            else:
                self._instance(serving, ns, cfg, bootstrap=None, backups=True)
        bootstrap = None
        if data.restore_target:
            bootstrap = {
                "pointInTimeRecoveryRef": {"name": pitr_name_of(serving)},
                "targetRecoveryTime": data.restore_target,
                **staging_storage(cfg),
            }
        self.ready = self._instance(name, ns, cfg, bootstrap=bootstrap, backups=True)

        self.instance = pulumi.Output.from_input(name)
        self.instance_name = name
        self.credentials_name = self._secret_name
        # mariadb-operator v26.6.0 internal/controller/mariadb_controller.go reconcileService:
        # the `-primary`/`-secondary` Services only when IsHAEnabled() (replication or Galera);
        # the `<name>` Service (reconcileDefaultService) in every topology.
        primary, secondary = (f"{name}-primary", f"{name}-secondary") if is_replicated(cfg) else (name, name)
        if maxscale.enabled(cfg):
            # One host: MaxScale splits reads from writes itself (components/data/maxscale.py).
            primary = secondary = maxscale.maxscale_name(name)
        self.endpoints = MariaDBEndpoints(
            primary_host=service_host(primary, ns),
            replica_host=service_host(secondary, ns),
            port=PORT,
            database=APP_DATABASE,
            username=APP_USER,
            password=pulumi.Output.secret(app_password.result),
        )
        self.register_outputs({"instance": self.instance, "primaryHost": self.endpoints.primary_host})

    def _instance(
        self,
        name: str,
        ns: pulumi.Input[str],
        cfg: StackConfig,
        *,
        bootstrap: dict[str, object] | None,
        backups: bool,
    ) -> list[pulumi.Resource]:
        """One MariaDB with its schema, user and grant (returned: what the application waits
        for); `backups`: its own backup pair and the jobs that keep its point-in-time window moving."""
        stateful = self._stateful
        backup_objects: list[pulumi.Resource] = []
        pitr_name: str | None = None
        if self._storage:
            pitr_name = pitr_name_of(name)
            if backups:
                # Nothing that writes into `name`'s prefixes is created before the archive
                # preflight passed (data-safety review #18; components/data/archive_preflight.py).
                assert self._backups is not None
                preflight = archive_preflight(
                    name, ns, self._backups, self._s3_secret_name,
                    kubectl_image=KUBECTL_IMAGE, aws_cli_image=AWS_CLI_IMAGE,
                    pod_labels={DATA_STORE_LABEL: GUARD_LABEL},
                    opts=pulumi.ResourceOptions(parent=self, depends_on=[self._operator, *self._after_storage]),
                )
                backup_objects = [preflight, *backup_pair(
                    name, ns, cfg, self._storage, suspended=False,
                    depends_on=[self._operator, *self._after_storage, preflight], parent=self,
                )]
        spec = mariadb_spec(cfg, name, self._secret_name, pitr_name)
        if bootstrap:
            spec["bootstrapFrom"] = bootstrap
        mariadb = k8s.apiextensions.CustomResource(
            name,
            api_version=API_VERSION,
            kind="MariaDB",
            metadata=kube.metadata(name, "mariadb", ns, app=BASE_NAME, annotations=WAIT_READY),
            spec=spec,
            opts=pulumi.ResourceOptions.merge(
                stateful, pulumi.ResourceOptions(depends_on=[self._operator, self._credentials, *backup_objects])
            ),
        )
        proxy: list[pulumi.Resource] = []
        if maxscale.enabled(cfg):
            # The application's host in medium/large (components/data/maxscale.py).
            fronting = maxscale.MaxScale(
                maxscale.maxscale_name(name),
                maxscale.MaxScaleArgs(cfg, name, ns, int(spec["replicas"]), self._operator, mariadb),  # type: ignore[arg-type]
                opts=pulumi.ResourceOptions(parent=self),
            )
            proxy = fronting.ready
        if backups and self._storage:
            guard = pulumi.ResourceOptions(parent=self, depends_on=[mariadb])
            pitr_guard(name, ns, cfg, self._secret_name, guard)
            assert self._backups is not None
            binlog_pruner(name, ns, cfg, self._backups, self._s3_secret_name, guard)

        return [mariadb, *app_schema(name, ns, cfg, self._secret_name, mariadb, self), *proxy]


def app_schema(
    name: str,
    ns: pulumi.Input[str],
    cfg: StackConfig,
    secret_name: pulumi.Input[str],
    mariadb: pulumi.Resource,
    parent: pulumi.Resource,
) -> list[pulumi.Resource]:
    """The application's Database, User and Grant on instance `name` (what the application
    waits for, with the MariaDB)."""
    # Retained on delete exactly where protected (MariaDB.__init__ says why).
    stateful = pulumi.ResourceOptions(parent=parent, protect=cfg.protect, retain_on_delete=cfg.protect)
    ref = {"name": name, "waitForIt": True}

    def custom(resource: str, kind: str, object_name: str, spec: dict[str, object],
               opts: pulumi.ResourceOptions) -> k8s.apiextensions.CustomResource:
        return k8s.apiextensions.CustomResource(
            f"{name}-{resource}",
            api_version=API_VERSION,
            kind=kind,
            metadata=kube.metadata(object_name, "mariadb", ns, app=BASE_NAME, annotations=WAIT_READY),
            spec={"mariaDbRef": ref, **spec},
            opts=opts,
        )

    database = custom(
        "database-app", "Database", f"{name}-{APP_DATABASE}",
        {
            "name": APP_DATABASE,
            "characterSet": "utf8mb4",
            "collate": "utf8mb4_unicode_ci",
            # Dropping the schema because an object went away would lose the data.
            "cleanupPolicy": "Skip",
        },
        pulumi.ResourceOptions.merge(stateful, pulumi.ResourceOptions(depends_on=[mariadb])),
    )
    # User and Grant: `cleanupPolicy: Skip`, so removing them from the program (finishing
    # a restore) never runs DROP USER under pods still connected as that user (v26.6.0
    # internal/controller/user_controller_finalizer.go:53 drops only on Delete).
    keep = pulumi.ResourceOptions(parent=parent, retain_on_delete=cfg.protect, depends_on=[mariadb])
    user = custom(
        "user-app", "User", f"{name}-{APP_USER}",
        {
            "name": APP_USER,
            "host": "%",
            "passwordSecretKeyRef": {"name": secret_name, "key": "app-password"},
            # Every php-fpm child of every web pod at the tier's maximum, plus workers.
            # With MaxScale, its pooled connections per server on top.
            "maxUserConnections": app_connection_demand(cfg) + maxscale.pool_size(cfg),
            "cleanupPolicy": "Skip",
        },
        keep,
    )
    grant = custom(
        "grant-app", "Grant", f"{name}-{APP_USER}-{APP_DATABASE}",
        {
            # What Laravel migrations and the application need on their own schema; no
            # global privileges, no GRANT OPTION.
            "privileges": [
                "SELECT", "INSERT", "UPDATE", "DELETE", "CREATE", "ALTER", "DROP", "INDEX",
                "REFERENCES", "CREATE TEMPORARY TABLES", "LOCK TABLES", "CREATE VIEW",
                "SHOW VIEW", "TRIGGER", "EXECUTE",
            ],
            "database": APP_DATABASE,
            "table": "*",
            "username": APP_USER,
            "host": "%",
            "grantOption": False,
            "cleanupPolicy": "Skip",
        },
        pulumi.ResourceOptions.merge(keep, pulumi.ResourceOptions(depends_on=[database, user])),
    )
    return [database, user, grant]
