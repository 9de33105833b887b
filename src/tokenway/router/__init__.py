"""Routing across deployments: load balancing, retries, fallbacks and cooldowns.

``RoutingEngine`` does the work for any kind of deployment handle; the SDK's ``Router``
(``tokenway.Router``) and the proxy's chat route both use it.
"""

from __future__ import annotations

from tokenway.router.call import Routed, RouteTrace
from tokenway.router.cooldown import CooldownPolicy
from tokenway.router.engine import RoutingEngine
from tokenway.router.handles import DeploymentLimits, Routable
from tokenway.router.settings import RouterSettings
from tokenway.router.state import DeploymentStats, MemoryState, RouterState

__all__ = [
    "CooldownPolicy",
    "DeploymentLimits",
    "DeploymentStats",
    "MemoryState",
    "Routable",
    "RouteTrace",
    "Routed",
    "RouterSettings",
    "RouterState",
    "RoutingEngine",
]
