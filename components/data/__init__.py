"""The data layer: `DataLayer` (layer.py) and one module per part of each stateful system.

- layer.py: the component, its Args, the data StorageClass; network.py: the operators'
  namespace and the data namespace's NetworkPolicies;
- MariaDB: mariadb.py (the component), mariadb_base.py (what its parts share),
  mariadb_spec.py (the custom resource and my.cnf), backups.py (PhysicalBackup, PITR, S3),
  maintenance.py (binlog flush, backup on failover, binlog pruning), maxscale.py,
  archive_preflight.py, drills.py and pushgateway.py (restore drills);
- Redis: redis.py, redis_cache.py, redis_cluster.py; RabbitMQ: rabbitmq*.py; tls.py and
  tls_reload.py (encryption in transit).
"""

from components.data.layer import DataLayer, DataLayerArgs

__all__ = ["DataLayer", "DataLayerArgs"]
