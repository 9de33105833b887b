"""A group's fixed facts, built once from its deployments, and the checks made on them."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from tokenway.errors import RateLimitError
from tokenway.router.handles import DeploymentLimits, Routable
from tokenway.router.state import DeploymentStats, RouterState
from tokenway.router.strategies import GroupShape, Strategy

__all__ = ["Group", "build_groups", "choose_filtered", "saturated"]

D = TypeVar("D", bound=Routable)


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
    single: bool  # one deployment: no strategy is needed to pick it


def saturated(limits: DeploymentLimits, stats: DeploymentStats) -> bool:
    parallel = limits.max_parallel_requests
    rpm = limits.rpm
    tpm = limits.tpm
    return bool(
        stats.full
        or (parallel and stats.in_flight >= parallel)
        or (rpm and stats.rpm_used >= rpm)
        or (tpm and stats.tpm_used >= tpm)
    )


def choose_filtered(
    group: Group[D],
    stats: Sequence[DeploymentStats],
    tried: list[int],
    now: float,
    strategy: Strategy,
    rng: random.Random,
    only: Callable[[D], bool] | None = None,
) -> int:
    """The strategy's choice among the usable deployments not tried yet (else the tried
    ones); when all are cooled down, the least recently failed; -1 when all are saturated.
    ``only``: the deployments that may be chosen (the caller checked some of them may)."""
    usable: list[int] = []
    cooled: list[int] = []
    for position in group.shape.everyone:
        if only is not None and not only(group.handles[position]):
            continue
        record = stats[position]
        if group.limited and saturated(group.limits[position], record):
            continue
        (cooled if record.cooldown_until > now else usable).append(position)
    pool = [p for p in usable if p not in tried] or usable
    if pool:
        return strategy(group.shape, pool, stats, rng)
    if cooled:  # all cooled down: the least recently failed is still tried
        pool = [p for p in cooled if p not in tried] or cooled
        return min(pool, key=lambda p: stats[p].last_failed_at)
    return -1


def build_groups(deployments: Iterable[D]) -> dict[str, Group[D]]:
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
        single=len(handles) == 1,
    )


def saturated_error(group: Group[Any], state: RouterState, now: float) -> RateLimitError:
    """Every usable deployment of ``group`` is at a limit: our 429, never an upstream's."""
    waits = [state.next_capacity(i, now) for i in group.ids]
    known = [w for w in waits if w is not None]
    retry_after = max(1.0, min(known)) if known else 1.0
    return RateLimitError(
        f"every deployment of model '{group.name}' is at its rpm, tpm or "
        f"max_parallel_requests limit; retry in {retry_after:.0f} s",
        code="deployments_saturated",
        retry_after=retry_after,
        model=group.name,
    )
