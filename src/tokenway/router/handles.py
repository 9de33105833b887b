"""What the router needs to know about a deployment: who it is, its group, its limits.

The engine is generic over deployment handles (the proxy's ``Route``, the SDK's
``SDKDeployment``); any object with these three read-only attributes will do.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class DeploymentLimits:
    """A deployment's configured limits; ``None`` means no limit (or not known)."""

    rpm: int | None = None
    tpm: int | None = None
    weight: float | None = None
    max_parallel_requests: int | None = None
    timeout: float | None = None  # seconds per attempt on this deployment
    context_window: int | None = None  # prompt + completion tokens it accepts

    @property
    def limited(self) -> bool:
        return bool(self.rpm or self.tpm or self.max_parallel_requests)


class Routable(Protocol):
    """A deployment handle: an id unique across the router, the group it serves, its limits."""

    @property
    def deployment_id(self) -> str: ...

    @property
    def group(self) -> str: ...

    @property
    def limits(self) -> DeploymentLimits: ...
