"""Router state shared by several processes: ``SharedCooldowns`` is the in-memory state
whose cooldowns and recoveries are also told to the other processes (``publish``, set by
the proxy when it has a Redis) and taken from them (``apply``), and whose deployments'
rpm/tpm/max_parallel_requests are counted once for all of them in a shared
``LimitStore`` (``limits``: Redis, or the counter of ``--workers N``).

What travels for a cooldown is the seconds it has left, not a time: each process's clock
(``time.monotonic``) has its own origin.

Deployment limits: the engine picks on this process's figures, as one process does, then
asks the shared store (``admit``, one round trip) before the attempt is sent. A refusal
marks the deployment ``full`` until the store says capacity returns, and the engine
picks again (another deployment, or it waits for capacity as for its own limits). The
attempt's parallel slot is given back when it ends, its tokens when they are known.

The strategies' statistics are shared approximately (``snapshot`` / ``apply_remote``,
sent every half second or so by the proxy, ``proxy.accounting.router_stats``): a
deployment's in-flight count is this process's plus the others' last reported ones (so
least-busy sees every instance's calls, up to one report late), and its latency EWMA is
pulled to the mean of every instance's at each report (latency-based routing compares
deployments on all instances' samples; between reports each process's own samples move
it). Usage (rpm/tpm for usage-based routing) stays this process's.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import replace

from tokenway.limits.window import LimitStore, Quota
from tokenway.router.handles import DeploymentLimits
from tokenway.router.state import EWMA_ALPHA, USAGE_WINDOW, DeploymentStats, MemoryState

__all__ = ["SharedCooldowns"]

_PARALLEL_RETRY = 0.05  # seconds a deployment full of parallel calls elsewhere is skipped


class SharedCooldowns(MemoryState):
    def __init__(
        self,
        clock: Callable[[], float] = time.monotonic,
        alpha: float = EWMA_ALPHA,
        window: float = USAGE_WINDOW,
        limits: LimitStore | None = None,
    ) -> None:
        super().__init__(alpha, window)
        self._clock = clock
        # (deployment id, seconds left; 0 = recovered), sent to the other processes
        self.publish: Callable[[str, float], None] | None = None
        self.limits = limits
        # per limited deployment: its quota, and the same without a parallel slot (tokens)
        self._quotas: dict[str, tuple[tuple[Quota], tuple[Quota]]] = {}
        self._held: dict[str, int] = {}  # parallel slots this process holds, per deployment
        self._full: dict[DeploymentStats, float] = {}  # marked full, until (engine clock)
        self._remote: dict[str, int] = {}  # in-flight calls of other processes, as applied

    # ---- cooldowns ------------------------------------------------------------------

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

    # ---- deployment limits ------------------------------------------------------------

    def add_group(
        self, group: str, deployment_ids: Sequence[str], limits: Sequence[DeploymentLimits]
    ) -> None:
        super().add_group(group, deployment_ids, limits)
        for ident, lim in zip(deployment_ids, limits, strict=True):
            if self.limits is not None and lim.limited:
                quota = Quota(
                    f"deployment:{ident}",
                    f"deployment '{ident}'",
                    lim.rpm or None,
                    lim.tpm or None,
                    lim.max_parallel_requests or None,
                )
                self._quotas[ident] = ((quota,), (replace(quota, parallel=None),))

    async def admit(self, deployment_id: str) -> float | None:
        """Count an attempt the engine has begun in the shared store: None when admitted,
        else the seconds until it has capacity (it is marked ``full`` until then, and the
        attempt is no longer in flight; its local rpm count stays, erring on the safe
        side). Called from the engine's event loop, as every async call's state changes."""
        quotas = self._quotas.get(deployment_id)
        if quotas is None or self.limits is None:
            return None
        try:
            state = await self.limits.acquire(quotas[0], time.time())
        except BaseException:  # refused outright (redis_outage: refuse), or cancelled
            MemoryState.end(self, deployment_id, None)
            raise
        if state.refused is None:
            if quotas[0][0].parallel is not None:
                self._held[deployment_id] = self._held.get(deployment_id, 0) + 1
            return None
        # a slot frees when any call ends: look again soon; a window says when it frees
        wait = _PARALLEL_RETRY if state.refused == "parallel" else max(state.retry_after, 0.05)
        MemoryState.end(self, deployment_id, None)  # not sent: no longer in flight
        stats = self._stats[deployment_id]
        stats.full = True
        self._full[stats] = self._clock() + wait
        return wait

    def view(self, group: str, now: float) -> Sequence[DeploymentStats]:
        if self._full:
            for stats, until in list(self._full.items()):
                if until <= now:
                    stats.full = False
                    del self._full[stats]
        return super().view(group, now)

    def end(self, deployment_id: str, latency: float | None, finished: bool = True) -> None:
        super().end(deployment_id, latency, finished)
        if finished:
            self._give_back(deployment_id)

    def release(self, deployment_id: str) -> None:
        super().release(deployment_id)
        self._give_back(deployment_id)

    def add_tokens(self, deployment_id: str, now: float, tokens: int) -> None:
        super().add_tokens(deployment_id, now, tokens)
        quotas = self._quotas.get(deployment_id)
        if quotas is not None and self.limits is not None and tokens > 0:
            self.limits.release(quotas[1], tokens, time.time())

    def next_capacity(self, deployment_id: str, now: float) -> float | None:
        own = super().next_capacity(deployment_id, now)
        until = self._full.get(self._stats[deployment_id])
        if until is None:
            return own
        return max(own or 0.0, until - now)

    # ---- statistics shared approximately ------------------------------------------------

    def snapshot(self) -> dict[str, tuple[int, float]]:
        """Per deployment: this process's calls in flight and its latency EWMA."""
        remote = self._remote
        return {
            ident: (stats.in_flight - remote.get(ident, 0), stats.latency)
            for ident, stats in self._stats.items()
        }

    def apply_remote(self, others: dict[str, tuple[int, list[float]]]) -> None:
        """The other processes' last reports: per deployment, their calls in flight and
        their latency EWMAs (measured ones). A deployment missing has none."""
        for ident, stats in self._stats.items():
            in_flight, latencies = others.get(ident, (0, []))
            stats.in_flight += in_flight - self._remote.get(ident, 0)
            self._remote[ident] = in_flight
            if latencies:
                mine = [stats.latency] if stats.latency else []
                stats.latency = sum(mine + latencies) / (len(mine) + len(latencies))

    def _give_back(self, deployment_id: str) -> None:
        """Free a parallel slot this process holds for the deployment (attempts of one
        deployment are interchangeable: any of its slots will do)."""
        held = self._held.get(deployment_id)
        if held and self.limits is not None:
            self._held[deployment_id] = held - 1
            self.limits.release(self._quotas[deployment_id][0], 0, time.time())
