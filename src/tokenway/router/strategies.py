"""Routing strategies: pure functions that choose one deployment of a group.

A strategy gets the group's fixed facts (``GroupShape``), the positions it may choose
from (``pool``; the shape's own ``everyone`` tuple when all may be chosen), the current
stats of the whole group, and a random source, and returns one position of ``pool``.
It never filters: the engine checks the choice and, if that deployment is cooled down,
saturated or already tried, asks again with a smaller pool. So the common case costs no
per-deployment allocation for a weighted shuffle, and C-level passes for the others.

Names are LiteLLM's ``router_settings.routing_strategy`` values.
"""

from __future__ import annotations

import bisect
import logging
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import accumulate
from operator import attrgetter

from tokenway.router.handles import DeploymentLimits
from tokenway.router.state import DeploymentStats

__all__ = [
    "EXPLORATION",
    "STRATEGIES",
    "GroupShape",
    "Strategy",
    "latency_based",
    "least_busy",
    "simple_shuffle",
    "strategy_for",
    "usage_based",
]

log = logging.getLogger("tokenway.router")

EXPLORATION = 0.06  # share of latency-based picks made at random, so a recovered one is seen

_IN_FLIGHT = attrgetter("in_flight")
_LATENCY = attrgetter("latency")
_USAGE = attrgetter("usage")


@dataclass(frozen=True, slots=True)
class GroupShape:
    """What never changes about a group, by position: its weights."""

    everyone: tuple[int, ...]
    weights: tuple[float, ...]
    cumulative: tuple[float, ...]

    @classmethod
    def of(cls, limits: Sequence[DeploymentLimits]) -> GroupShape:
        weights = _weights(limits)
        return cls(
            everyone=tuple(range(len(limits))),
            weights=weights,
            cumulative=tuple(accumulate(weights)),
        )


Strategy = Callable[[GroupShape, Sequence[int], Sequence[DeploymentStats], random.Random], int]


def simple_shuffle(
    shape: GroupShape, pool: Sequence[int], stats: Sequence[DeploymentStats], rng: random.Random
) -> int:
    """Weighted random: by ``weight``, else by ``rpm``, else evenly."""
    if pool is shape.everyone:
        cumulative = shape.cumulative
        return bisect.bisect_right(cumulative, rng.random() * cumulative[-1], hi=len(pool) - 1)
    weights = shape.weights
    return rng.choices(pool, [weights[i] for i in pool])[0]


def least_busy(
    shape: GroupShape, pool: Sequence[int], stats: Sequence[DeploymentStats], rng: random.Random
) -> int:
    """Fewest requests in flight; ties broken from a random starting point."""
    return _lowest(pool, _values(_IN_FLIGHT, pool, shape, stats), rng)


def latency_based(
    shape: GroupShape, pool: Sequence[int], stats: Sequence[DeploymentStats], rng: random.Random
) -> int:
    """Lowest latency EWMA (unmeasured first), except a few random picks to keep measuring."""
    if rng.random() < EXPLORATION:
        return pool[int(rng.random() * len(pool))]
    return _lowest(pool, _values(_LATENCY, pool, shape, stats), rng)


def usage_based(
    shape: GroupShape, pool: Sequence[int], stats: Sequence[DeploymentStats], rng: random.Random
) -> int:
    """Most headroom: the lowest share used of its RPM or TPM limit, whichever is fuller."""
    return _lowest(pool, _values(_USAGE, pool, shape, stats), rng)


STRATEGIES: dict[str, Strategy] = {
    "simple-shuffle": simple_shuffle,
    "least-busy": least_busy,
    "latency-based-routing": latency_based,
    "usage-based-routing": usage_based,
    "usage-based-routing-v2": usage_based,
}


def strategy_for(name: str) -> Strategy:
    """The strategy for a LiteLLM strategy name; names tokenway lacks fall back to shuffle."""
    strategy = STRATEGIES.get(name)
    if strategy is None:
        log.warning("routing_strategy '%s' is not supported; using simple-shuffle", name)
        return simple_shuffle
    return strategy


# --- helpers -------------------------------------------------------------------------


def _values(
    getter: Callable[[DeploymentStats], float],
    pool: Sequence[int],
    shape: GroupShape,
    stats: Sequence[DeploymentStats],
) -> list[float]:
    if pool is shape.everyone:
        return list(map(getter, stats))
    return [getter(stats[i]) for i in pool]


def _lowest(pool: Sequence[int], values: list[float], rng: random.Random) -> int:
    """The position with the lowest value; among equals, the first from a random start."""
    best = min(values)
    start = int(rng.random() * len(values))
    try:
        return pool[values.index(best, start)]
    except ValueError:
        return pool[values.index(best)]


def _weights(limits: Sequence[DeploymentLimits]) -> tuple[float, ...]:
    """Weights, else RPMs, else equal; a deployment missing the value gets the group's mean."""
    for values in ([lim.weight for lim in limits], [lim.rpm for lim in limits]):
        given = [float(v) for v in values if v]
        if given:
            mean = sum(given) / len(given)
            return tuple(float(v) if v else mean for v in values)
    return tuple(1.0 for _ in limits)
