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

The common case (``_first``): a request that fits, whose first choice is healthy, is
tried without a ``RoutedCall``; only a failed attempt makes one, which carries on.
"""

from __future__ import annotations

import asyncio
import logging
import random
import threading
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import TypeVar

from tokenway.errors import NotFoundError, TokenwayError
from tokenway.router.call import Routed, RoutedCall, RouteTrace, attempt_budget, routed
from tokenway.router.groups import Group, build_groups, choose_filtered, saturated
from tokenway.router.handles import Routable
from tokenway.router.outcomes import Outcomes
from tokenway.router.patterns import compile_patterns, match
from tokenway.router.settings import RouterSettings
from tokenway.router.state import DeploymentStats, MemoryState, RouterState
from tokenway.router.strategies import Strategy, strategy_for, usage_based

__all__ = ["Group", "RoutingEngine"]

log = logging.getLogger("tokenway.router")

D = TypeVar("D", bound=Routable)
T = TypeVar("T")


class RoutingEngine(Outcomes[D]):
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
        wildcards: bool = False,
    ) -> None:
        self.settings = settings or RouterSettings()
        self.state: RouterState = state if state is not None else MemoryState()
        self.strategy = strategy or strategy_for(self.settings.routing_strategy)
        self.clock = clock
        self.rng = rng or random.Random()
        self._lock = threading.Lock()
        # Async calls to a limited deployment ask this before sending (``router.shared``:
        # limits counted with other processes): None admits, else seconds until capacity.
        self.admission: Callable[[str], Awaitable[float | None]] | None = None
        # ``wildcards``: groups named like "*" or "inference/*" also serve the requested
        # models they match (see ``router.patterns``), asked only when no name is exact.
        self._wildcards = wildcards
        self.set_deployments(deployments)
        unknown = sorted(n for n in self.settings.groups_named() if self.find(n) is None)
        if unknown:
            raise ValueError(
                f"fallbacks name model group(s) that are not served: {', '.join(unknown)}"
            )

    # ---- the groups -----------------------------------------------------------------

    def set_deployments(self, deployments: Iterable[D]) -> None:
        """Serve these deployments from now on (also while running: models added or
        removed through the management API). A deployment whose id stays keeps its
        stats and cooldown; calls already routed finish on the groups they started on."""
        groups = build_groups(deployments)
        patterns = compile_patterns(groups) if self._wildcards else ()
        # Tokens matter only to TPM limits and usage-based routing; otherwise skip the count.
        counts_tokens = self.strategy is usage_based or any(
            lim.tpm for group in groups.values() for lim in group.limits
        )
        with self._lock:
            for group in groups.values():
                self.state.add_group(group.name, group.ids, group.limits)
            self._groups, self._patterns, self._counts_tokens = groups, patterns, counts_tokens

    def groups(self) -> list[str]:
        return list(self._groups)

    @property
    def wildcards(self) -> bool:
        """Some group is a pattern that serves the models it matches."""
        return bool(self._patterns)

    def find(self, name: str) -> Group[D] | None:
        """The group serving the model ``name``: its own, else a matching pattern's."""
        group = self._groups.get(name)
        if group is None and self._patterns:
            pattern = match(self._patterns, name)
            if pattern is not None:
                group = self._groups[pattern.name]
        return group

    def group_of(self, name: str) -> Group[D]:
        group = self.find(name)
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
        fallbacks: Sequence[str] | None = None,
    ) -> Routed[D, T]:
        """Run ``attempt(deployment, seconds)`` until one answers, as the settings allow.

        ``hold=True`` (streams): the deployment stays in flight after the answer began,
        until the returned ``Routed.release()`` is called. ``fallbacks`` (a request's own
        list) replaces the configured fallbacks of ``group`` for this call."""
        first = self._first(group, needed_tokens, timeout, num_retries, trace, fallbacks)
        if isinstance(first, RoutedCall):
            return await self._arun(first, attempt, hold)
        picked, position, _, deadline, _ = first
        if (
            picked.limited
            and (admission := self.admission) is not None
            and await admission(picked.ids[position]) is not None  # full, counted with others
        ):
            call = self._start(group, needed_tokens, timeout, num_retries, trace, first[4])
            return await self._arun(call, attempt, hold)
        handle = picked.handles[position]
        started = self.clock()
        try:
            value = await attempt(
                handle, attempt_budget(picked.limits[position], deadline, started)
            )
        except TokenwayError as error:
            call = self._adopt(group, first, error, started, needed_tokens, num_retries, trace)
        except BaseException:
            self._abandoned(picked.ids[position])
            raise
        else:
            return self._first_answered(first, value, self.clock() - started, hold, trace)
        # Outside the handler: the general loop's errors are not raised "while handling" it.
        return await self._arun(call, attempt, hold)

    async def acall_within(
        self,
        only: Callable[[D], bool],
        only_error: Callable[[str], TokenwayError],
        group: str,
        attempt: Callable[[D, float], Awaitable[T]],
        *,
        needed_tokens: Callable[[], int] | None = None,
        timeout: float | None = None,
        num_retries: int | None = None,
        trace: RouteTrace[D] | None = None,
        hold: bool = False,
        fallbacks: Sequence[str] | None = None,
    ) -> Routed[D, T]:
        """``acall`` on the deployments ``only`` allows (e.g. an end user's region), in
        every group it tries; a group with none of them is skipped for its fallbacks, and
        ``only_error(group)`` is raised when none is left. Always the general loop."""
        call = self._start(group, needed_tokens, timeout, num_retries, trace, fallbacks=fallbacks)
        call.only, call.only_error = only, only_error
        return await self._arun(call, attempt, hold)

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
        fallbacks: Sequence[str] | None = None,
    ) -> Routed[D, T]:
        """The sync twin of ``acall``."""
        first = self._first(group, needed_tokens, timeout, num_retries, trace, fallbacks)
        if isinstance(first, RoutedCall):
            return self._run(first, attempt, hold)
        picked, position, _, deadline, _ = first
        handle = picked.handles[position]
        started = self.clock()
        try:
            value = attempt(handle, attempt_budget(picked.limits[position], deadline, started))
        except TokenwayError as error:
            call = self._adopt(group, first, error, started, needed_tokens, num_retries, trace)
        except BaseException:
            self._abandoned(picked.ids[position])
            raise
        else:
            return self._first_answered(first, value, self.clock() - started, hold, trace)
        # Outside the handler: the general loop's errors are not raised "while handling" it.
        return self._run(call, attempt, hold)

    def _first_answered(
        self, first: _Picked[D], value: T, elapsed: float, hold: bool, trace: RouteTrace[D] | None
    ) -> Routed[D, T]:
        """The fast path's attempt answered: report it, and the answer as the loop would."""
        picked, position, stats, _, _ = first
        release = self._succeeded(picked.ids[position], stats, elapsed, hold)
        retries, fallbacks = (trace.retries, trace.fallbacks) if trace is not None else (0, 0)
        return routed(value, picked.handles[position], picked.name, retries, fallbacks, release)

    async def _arun(
        self, call: RoutedCall[D], attempt: Callable[[D, float], Awaitable[T]], hold: bool
    ) -> Routed[D, T]:
        """The general loop: pick, attempt, report, until an answer or an error ends it."""
        lock, clock = self._lock, self.clock
        while True:
            with lock:
                wait = call.pick(clock())
            if wait:
                await asyncio.sleep(wait)
                continue
            if (
                call.group.limited
                and (admission := self.admission) is not None
                and await admission(call.deployment_id) is not None
            ):
                call.withdraw()  # full in the count shared with other processes
                continue
            started = clock()
            try:
                value = await attempt(call.handle, call.budget(started))
            except TokenwayError as error:
                self._failed(call, error, clock() - started)
                continue
            except BaseException:
                self._abandoned(call.deployment_id)
                raise
            done = self._succeeded(call.deployment_id, call.stats, clock() - started, hold)
            return call.result(value, done)

    def _run(
        self, call: RoutedCall[D], attempt: Callable[[D, float], T], hold: bool
    ) -> Routed[D, T]:
        """The sync twin of ``_arun``."""
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
                self._abandoned(call.deployment_id)
                raise
            done = self._succeeded(call.deployment_id, call.stats, clock() - started, hold)
            return call.result(value, done)

    def _first(
        self,
        name: str,
        needed_tokens: Callable[[], int] | None,
        timeout: float | None,
        num_retries: int | None,
        trace: RouteTrace[D] | None,
        fallbacks: Sequence[str] | None,
    ) -> RoutedCall[D] | _Picked[D]:
        """The common case without a per-call object: the request fits, and the strategy's
        first choice (a single deployment, without asking it) is healthy; it is begun.
        Otherwise the general loop's ``RoutedCall``, which has not begun anything yet."""
        group = self._groups.get(name)
        if group is None and self._patterns:  # exact names first: a pattern only on a miss
            group = self.find(name)
        seconds = timeout or self.settings.timeout
        if group is None or seconds <= 0 or fallbacks is not None:
            # A request's own fallbacks are rare: the general loop carries them.
            return self._start(
                name, needed_tokens, timeout, num_retries, trace, fallbacks=fallbacks
            )
        needed = None
        if group.context_window is not None and needed_tokens is not None:
            needed = needed_tokens()
            if needed > group.context_window:
                return self._start(name, needed_tokens, timeout, num_retries, trace, needed)
        lock = self._lock
        lock.acquire()  # not ``with``: on this path every tenth of a microsecond shows
        try:
            now = self.clock()
            stats = self.state.view(group.name, now)
            shape = group.shape
            position = 0 if group.single else self.strategy(shape, shape.everyone, stats, self.rng)
            chosen = stats[position]
            if chosen.cooldown_until > now or (
                group.limited and saturated(group.limits[position], chosen)
            ):
                call = self._start(name, needed_tokens, timeout, num_retries, trace, needed)
                call.first_choice_rejected = not group.single
                return call
            self.state.begin(group.ids[position], now)
        finally:
            lock.release()
        if trace is not None:
            trace.deployment = group.handles[position]
        return group, position, chosen, now + seconds, needed

    # ---- picking (called under the lock) --------------------------------------------

    def choose(
        self,
        group: Group[D],
        stats: Sequence[DeploymentStats],
        tried: list[int],
        now: float,
        rejected: bool = False,
        only: Callable[[D], bool] | None = None,
    ) -> int:
        """A position to try next, or -1 when every usable deployment is saturated.

        ``rejected``: the strategy's choice from the whole group was already found cooled
        down or saturated (by ``_first``), so only the filtered group is asked. ``only``:
        the deployments that may be chosen at all."""
        if not tried and not rejected and only is None:
            position = self.strategy(group.shape, group.shape.everyone, stats, self.rng)
            chosen = stats[position]
            if chosen.cooldown_until <= now and not (
                group.limited and saturated(group.limits[position], chosen)
            ):
                return position
        return choose_filtered(group, stats, tried, now, self.strategy, self.rng, only)

    # ---- outcomes -------------------------------------------------------------------

    def _start(
        self,
        name: str,
        needed_tokens: Callable[[], int] | None,
        timeout: float | None,
        num_retries: int | None,
        trace: RouteTrace[D] | None,
        needed: int | None = None,
        deadline: float | None = None,
        fallbacks: Sequence[str] | None = None,
    ) -> RoutedCall[D]:
        settings = self.settings
        if deadline is None:
            deadline = self.clock() + (timeout or settings.timeout)
        retries = settings.num_retries if num_retries is None else num_retries
        call = RoutedCall(self, name, deadline, retries, needed_tokens, trace, needed)
        if fallbacks is not None:
            call.fallbacks = tuple(fallbacks)
        return call

    def _adopt(
        self,
        name: str,
        first: _Picked[D],
        error: TokenwayError,
        started: float,
        needed_tokens: Callable[[], int] | None,
        num_retries: int | None,
        trace: RouteTrace[D] | None,
    ) -> RoutedCall[D]:
        """The ``RoutedCall`` that would have made ``_first``'s attempt, begun at
        ``started``, told that it failed with ``error``: the general loop carries on."""
        _, position, stats, deadline, needed = first
        call = self._start(name, needed_tokens, None, num_retries, trace, needed, deadline)
        call.adopt(position, stats)
        self._failed(call, error, self.clock() - started)
        return call


# A call begun without a RoutedCall: group, position, its stats, deadline, needed tokens.
_Picked = tuple[Group[D], int, DeploymentStats, float, int | None]
