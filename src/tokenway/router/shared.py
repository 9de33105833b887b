"""Cooldowns shared by several processes: ``SharedCooldowns`` is the in-memory state whose
cooldowns and recoveries are also told to the other processes (``publish``, set by the
proxy when it has a Redis) and taken from them (``apply``).

What travels is the seconds a cooldown has left, not a time: each process's clock
(``time.monotonic``) has its own origin. In-flight counts and usage statistics stay per
process.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from tokenway.router.state import EWMA_ALPHA, USAGE_WINDOW, MemoryState

__all__ = ["SharedCooldowns"]


class SharedCooldowns(MemoryState):
    def __init__(
        self,
        clock: Callable[[], float] = time.monotonic,
        alpha: float = EWMA_ALPHA,
        window: float = USAGE_WINDOW,
    ) -> None:
        super().__init__(alpha, window)
        self._clock = clock
        # (deployment id, seconds left; 0 = recovered), sent to the other processes
        self.publish: Callable[[str, float], None] | None = None

    def cool_down(self, deployment_id: str, until: float) -> None:
        super().cool_down(deployment_id, until)
        if self.publish is not None:
            self.publish(deployment_id, until - self._clock())

    def recover(self, deployment_id: str) -> None:
        super().recover(deployment_id)
        if self.publish is not None:
            self.publish(deployment_id, 0.0)

    def apply(self, deployment_id: str, seconds: float) -> None:
        """Another process cooled ``deployment_id`` down (or ended its cooldown)."""
        if deployment_id not in self._stats:
            return  # not served here (another config)
        if seconds > 0:
            super().cool_down(deployment_id, self._clock() + seconds)
        else:
            super().recover(deployment_id)
