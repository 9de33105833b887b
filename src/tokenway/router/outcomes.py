"""What the routing engine records about calls and probes: successes, failures (and the
cooldowns they cause), releases, tokens used. A base of ``RoutingEngine``, kept apart
so each file reads as one concern; every method runs under the engine's lock.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Generic, TypeVar

from tokenway.errors import TokenwayError
from tokenway.router.call import RoutedCall
from tokenway.router.cooldown import MOCK_FAILURE, counts_against_deployment
from tokenway.router.handles import Routable
from tokenway.router.settings import RouterSettings
from tokenway.router.state import DeploymentStats, RouterState

log = logging.getLogger("tokenway.router")

D = TypeVar("D", bound=Routable)

FAILURE_LATENCY = 1.0  # seconds: the latency sample a counted failure adds, at least


class Outcomes(Generic[D]):
    """The engine's bookkeeping of outcomes (``RoutingEngine`` sets these attributes)."""

    settings: RouterSettings
    state: RouterState
    clock: Callable[[], float]
    _lock: threading.Lock
    _counts_tokens: bool

    # ---- reports from outside a call ------------------------------------------------

    def add_tokens(self, handle: D, tokens: int) -> None:
        """Tokens a finished request used (for TPM limits and usage-based routing)."""
        if not self._counts_tokens:
            return
        lock = self._lock
        lock.acquire()
        try:
            self.state.add_tokens(handle.deployment_id, self.clock(), tokens)
        finally:
            lock.release()

    def report_health(self, handle: D, error: TokenwayError | None, cooldown: float) -> None:
        """A health probe's outcome: a failure cools the deployment down, a success ends it."""
        with self._lock:
            if error is None:
                self.state.recover(handle.deployment_id)
            elif counts_against_deployment(error) and not self.settings.cooldown.disabled:
                until = self.clock() + max(cooldown, self.settings.cooldown.cooldown_time)
                self.state.cool_down(handle.deployment_id, until)

    def _succeeded(
        self, deployment_id: str, stats: DeploymentStats | None, elapsed: float, hold: bool
    ) -> Callable[[], None] | None:
        lock = self._lock
        lock.acquire()
        try:
            self.state.end(deployment_id, elapsed, not hold)
            # Tried while cooled down (or cooled by another call meanwhile), and it answered.
            if stats is not None and stats.cooldown_until and stats.cooldown_until > self.clock():
                self.state.recover(deployment_id)
        finally:
            lock.release()
        return self._releaser(deployment_id) if hold else None

    def _releaser(self, deployment_id: str) -> Callable[[], None]:
        released = False

        def release() -> None:
            nonlocal released
            if not released:
                released = True
                with self._lock:
                    self.state.release(deployment_id)

        return release

    def _abandoned(self, deployment_id: str) -> None:
        with self._lock:
            self.state.end(deployment_id, None)

    def _failed(self, call: RoutedCall[D], error: TokenwayError, elapsed: float) -> None:
        deployment_id = call.group.ids[call.position]
        counted = counts_against_deployment(error) and error.code != MOCK_FAILURE
        policy = self.settings.cooldown
        with self._lock:
            now = self.clock()
            self.state.end(deployment_id, max(elapsed, FAILURE_LATENCY) if counted else None)
            stats = call.stats
            cooling = stats is not None and stats.cooldown_until > now  # already out of rotation
            if counted and not policy.disabled and not cooling:
                failures = self.state.fail(deployment_id, now, policy.window)
                cooldown = policy.cooldown_for(error, failures)
                if cooldown is not None:
                    self.state.cool_down(deployment_id, now + cooldown)
                    log.warning(
                        "deployment %s of %s cooled down for %.1f s after: %s",
                        deployment_id, call.group.name, cooldown, error.message,
                    )  # fmt: skip
        call.failed(error)
