"""The routing engine: groups of deployments, a strategy, cooldowns, retries and fallbacks.

``RoutingEngine[D]`` is generic over deployment handles (anything ``Routable``): the
proxy routes its ``Route`` objects, the SDK's ``Router`` its own. A call hands the engine
an ``attempt(handle, budget)`` function; the engine picks a deployment, runs the attempt,
reports the outcome to the state, and carries on as ``RoutedCall`` decides. ``acall`` is
for async attempts, ``call`` its sync twin; both share every decision.

Picking: the strategy chooses from the whole group; only when that choice is cooled down,
saturated or already tried is the group filtered. When every healthy deployment is at its
rpm/tpm/max_parallel_requests limit the call waits (bounded) for capacity, then gets a
``RateLimitError`` (code ``deployments_saturated``) that cools nothing down. When every
deployment is cooled down, the least recently failed one is still tried.
"""

from __future__ import annotations

import asyncio
import logging
import random
import threading
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from tokenway.errors import NotFoundError, RateLimitError, TokenwayError
from tokenway.router.call import Routed, RoutedCall, RouteTrace
from tokenway.router.cooldown import counts_against_deployment
from tokenway.router.handles import DeploymentLimits, Routable
from tokenway.router.settings import RouterSettings
from tokenway.router.state import DeploymentStats, MemoryState, RouterState
from tokenway.router.strategies import GroupShape, Strategy, strategy_for, usage_based

__all__ = ["Group", "RoutingEngine"]

log = logging.getLogger("tokenway.router")

D = TypeVar("D", bound=Routable)
T = TypeVar("T")

FAILURE_LATENCY = 1.0  # seconds: the latency sample a counted failure adds, at least


@dataclass(frozen=True, slots=True)
class Group(Generic[D]):
    """A group's deployments and the facts about them that never change."""

    name: str
    handles: tuple[D, ...]
    ids: tuple[str, ...]
    limits: tuple[DeploymentLimits, ...]
    shape: GroupShape
    limited: bool  # some deployment has an rpm, tpm or max_parallel_requests limit
    context_window: int | None  # the largest, when every deployment's is known


class RoutingEngine(Generic[D]):
    """Routes calls over deployment groups. Safe to share between threads and tasks."""

    def __init__(
        self,
        deployments: Iterable[D],
        settings: RouterSettings | None = None,
        *,
        state: RouterState | None = None,
        strategy: Strategy | None = None,
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
    ) -> None:
        self.settings = settings or RouterSettings()
        self.state: RouterState = state if state is not None else MemoryState()
        self.strategy = strategy or strategy_for(self.settings.routing_strategy)
        self.clock = clock
        self.rng = rng or random.Random()
        self._lock = threading.Lock()
        self._groups = _build_groups(deployments)
        # Tokens matter only to TPM limits and usage-based routing; otherwise skip the count.
        self._counts_tokens = self.strategy is usage_based or any(
            lim.tpm for group in self._groups.values() for lim in group.limits
        )
        for group in self._groups.values():
            self.state.add_group(group.name, group.ids, group.limits)
        unknown = sorted(self.settings.groups_named() - set(self._groups))
        if unknown:
            raise ValueError(
                f"fallbacks name model group(s) that are not served: {', '.join(unknown)}"
            )

    # ---- the groups -----------------------------------------------------------------

    def groups(self) -> list[str]:
        return list(self._groups)

    def group_of(self, name: str) -> Group[D]:
        group = self._groups.get(name)
        if group is None:
            served = ", ".join(self._groups) or "none"
            raise NotFoundError(
                f"model '{name}' is not served here; served models: {served}",
                param="model",
                code="model_not_found",
            )
        return group

    def deployments(self, name: str) -> tuple[D, ...]:
        return self.group_of(name).handles

    def stats(self, name: str) -> Sequence[DeploymentStats]:
        """A group's current stats, in deployment order (for health pages and tests)."""
        with self._lock:
            return self.state.view(name, self.clock())

    # ---- calls ----------------------------------------------------------------------

    async def acall(
        self,
        group: str,
        attempt: Callable[[D, float], Awaitable[T]],
        *,
        needed_tokens: Callable[[], int] | None = None,
        timeout: float | None = None,
        num_retries: int | None = None,
        trace: RouteTrace[D] | None = None,
        hold: bool = False,
    ) -> Routed[D, T]:
        """Run ``attempt(deployment, seconds)`` until one answers, as the settings allow.

        ``hold=True`` (streams): the deployment stays in flight after the answer began,
        until the returned ``Routed.release()`` is called."""
        call = self._start(group, needed_tokens, timeout, num_retries, trace)
        lock, clock = self._lock, self.clock
        while True:
            with lock:
                wait = call.pick(clock())
            if wait:
                await asyncio.sleep(wait)
                continue
            started = clock()
            try:
                value = await attempt(call.handle, call.budget(started))
            except TokenwayError as error:
                self._failed(call, error, clock() - started)
                continue
            except BaseException:
                self._abandoned(call)
                raise
            return call.result(value, self._succeeded(call, clock() - started, hold))

    def call(
        self,
        group: str,
        attempt: Callable[[D, float], T],
        *,
        needed_tokens: Callable[[], int] | None = None,
        timeout: float | None = None,
        num_retries: int | None = None,
        trace: RouteTrace[D] | None = None,
        hold: bool = False,
    ) -> Routed[D, T]:
        """The sync twin of ``acall``."""
        call = self._start(group, needed_tokens, timeout, num_retries, trace)
        lock, clock = self._lock, self.clock
        while True:
            with lock:
                wait = call.pick(clock())
            if wait:
                time.sleep(wait)
                continue
            started = clock()
            try:
                value = attempt(call.handle, call.budget(started))
            except TokenwayError as error:
                self._failed(call, error, clock() - started)
                continue
            except BaseException:
                self._abandoned(call)
                raise
            return call.result(value, self._succeeded(call, clock() - started, hold))

    # ---- reports from outside a call ------------------------------------------------

    def add_tokens(self, handle: D, tokens: int) -> None:
        """Tokens a finished request used (for TPM limits and usage-based routing)."""
        if not self._counts_tokens:
            return
        with self._lock:
            self.state.add_tokens(handle.deployment_id, self.clock(), tokens)

    def report_health(self, handle: D, error: TokenwayError | None, cooldown: float) -> None:
        """A health probe's outcome: a failure cools the deployment down, a success ends it."""
        with self._lock:
            if error is None:
                self.state.recover(handle.deployment_id)
            elif counts_against_deployment(error) and not self.settings.cooldown.disabled:
                until = self.clock() + max(cooldown, self.settings.cooldown.cooldown_time)
                self.state.cool_down(handle.deployment_id, until)

    # ---- picking (called under the lock) --------------------------------------------

    def choose(
        self, group: Group[D], stats: Sequence[DeploymentStats], tried: list[int], now: float
    ) -> int:
        """A position to try next, or -1 when every usable deployment is saturated."""
        if not tried:
            position = self.strategy(group.shape, group.shape.everyone, stats, self.rng)
            chosen = stats[position]
            if chosen.cooldown_until <= now and not (
                group.limited and _saturated(group.limits[position], chosen)
            ):
                return position
        return self._choose_filtered(group, stats, tried, now)

    def saturated_error(self, group: Group[D], now: float) -> RateLimitError:
        waits = [self.state.next_capacity(i, now) for i in group.ids]
        known = [w for w in waits if w is not None]
        retry_after = max(1.0, min(known)) if known else 1.0
        return RateLimitError(
            f"every deployment of model '{group.name}' is at its rpm, tpm or "
            f"max_parallel_requests limit; retry in {retry_after:.0f} s",
            code="deployments_saturated",
            retry_after=retry_after,
            model=group.name,
        )

    def _choose_filtered(
        self, group: Group[D], stats: Sequence[DeploymentStats], tried: list[int], now: float
    ) -> int:
        usable: list[int] = []
        cooled: list[int] = []
        for position in group.shape.everyone:
            record = stats[position]
            if group.limited and _saturated(group.limits[position], record):
                continue
            (cooled if record.cooldown_until > now else usable).append(position)
        pool = [p for p in usable if p not in tried] or usable
        if pool:
            return self.strategy(group.shape, pool, stats, self.rng)
        if cooled:  # all cooled down: the least recently failed is still tried
            pool = [p for p in cooled if p not in tried] or cooled
            return min(pool, key=lambda p: stats[p].last_failed_at)
        return -1

    # ---- outcomes -------------------------------------------------------------------

    def _start(
        self,
        group: str,
        needed_tokens: Callable[[], int] | None,
        timeout: float | None,
        num_retries: int | None,
        trace: RouteTrace[D] | None,
    ) -> RoutedCall[D]:
        settings = self.settings
        deadline = self.clock() + (timeout or settings.timeout)
        retries = settings.num_retries if num_retries is None else num_retries
        return RoutedCall(self, group, deadline, retries, needed_tokens, trace)

    def _succeeded(
        self, call: RoutedCall[D], elapsed: float, hold: bool
    ) -> Callable[[], None] | None:
        deployment_id = call.group.ids[call.position]
        with self._lock:
            self.state.end(deployment_id, elapsed, finished=not hold)
            stats = call.stats
            if stats is not None and stats.cooldown_until > self.clock():
                self.state.recover(deployment_id)  # tried while cooled down, and it answered
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

    def _abandoned(self, call: RoutedCall[D]) -> None:
        with self._lock:
            self.state.end(call.group.ids[call.position], None)

    def _failed(self, call: RoutedCall[D], error: TokenwayError, elapsed: float) -> None:
        deployment_id = call.group.ids[call.position]
        counted = counts_against_deployment(error)
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


def _saturated(limits: DeploymentLimits, stats: DeploymentStats) -> bool:
    parallel = limits.max_parallel_requests
    rpm = limits.rpm
    tpm = limits.tpm
    return bool(
        (parallel and stats.in_flight >= parallel)
        or (rpm and stats.rpm_used >= rpm)
        or (tpm and stats.tpm_used >= tpm)
    )


def _build_groups(deployments: Iterable[D]) -> dict[str, Group[D]]:
    members: dict[str, list[D]] = {}
    seen: set[str] = set()
    for handle in deployments:
        if handle.deployment_id in seen:
            raise ValueError(f"deployment id '{handle.deployment_id}' is used twice")
        seen.add(handle.deployment_id)
        members.setdefault(handle.group, []).append(handle)
    return {name: _group(name, handles) for name, handles in members.items()}


def _group(name: str, handles: list[D]) -> Group[D]:
    limits = tuple(h.limits for h in handles)
    windows = [lim.context_window for lim in limits]
    known = [w for w in windows if w is not None]
    return Group(
        name=name,
        handles=tuple(handles),
        ids=tuple(h.deployment_id for h in handles),
        limits=limits,
        shape=GroupShape.of(limits),
        limited=any(lim.limited for lim in limits),
        context_window=max(known) if known and len(known) == len(windows) else None,
    )
