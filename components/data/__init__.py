"""The data layer: `DataLayer` (layer.py) and one module per part of each stateful system.

- layer.py: the component, its Args, the data StorageClass; network.py: the operators'
  namespace and the data namespace's NetworkPolicies;
- MariaDB: mariadb.py (the component), mariadb_base.py (what its parts share),
  mariadb_spec.py (the custom resource and my.cnf), backups.py (PhysicalBackup, PITR, S3),
  maintenance.py (binlog flush, backup on failover, binlog pruning), maxscale.py,
  archive_preflight.py, backup_timing.py, drills.py and pushgateway.py (restore drills);
- Redis: redis.py, redis_cache.py, redis_cluster.py; RabbitMQ: rabbitmq*.py; tls.py.

`DataLayer` and `DataLayerArgs` are loaded on first use (PEP 562): `components.config` imports
`components.data.backup_timing`, which runs this file while config is still loading, and the
layer imports config.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__all__ = ["DataLayer", "DataLayerArgs"]

if TYPE_CHECKING:
    from components.data.layer import DataLayer, DataLayerArgs


def __getattr__(name: str) -> Any:
    if name in __all__:
        from components.data import layer

        return getattr(layer, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
