"""The Next.js frontend (FrontendApp): app.py composes deployment.py, routes.py and network.py.

May import: components.{k8s, config, contracts, routing, tracing, platform.network}; never the
backend (the Reverb settings it receives are components.contracts.ReverbClient).
"""

from components.frontend.app import FrontendApp
from components.frontend.args import FrontendAppArgs

__all__ = ["FrontendApp", "FrontendAppArgs"]
