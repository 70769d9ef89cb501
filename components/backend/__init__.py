"""The Laravel backend (LaravelBackend): web pods, migrations, Reverb, workers, scheduler.

Modules: component.py (the ComponentResource composing the parts), args.py (its inputs),
settings.py (ConfigMap, Secret, rendered PHP files), pods.py (what every PHP pod shares),
web.py, migrations.py, reverb.py, workers.py, scheduler.py, routes.py (IngressRoutes incl. the
login route), network.py (NetworkPolicies), files.py (nginx/php-fpm/php.ini rendering) and
stores.py (which Redis holds what; the failed-job volume).

May import: components.{k8s, config, contracts, routing, monitoring.tracing, data.tls, platform}.
Nothing under components/ imports this package but __main__.py (docs/architecture.md).
"""

from components.backend.args import LaravelBackendArgs, QueueBroker
from components.backend.component import LaravelBackend
from components.contracts import ReverbClient

__all__ = ["LaravelBackend", "LaravelBackendArgs", "QueueBroker", "ReverbClient"]
