"""Doubles for engine tests: a settable clock, plain deployment handles, scripted attempts."""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field

from tokenway.errors import TokenwayError
from tokenway.retry import Backoff
from tokenway.router import DeploymentLimits, RouterSettings, RoutingEngine

FAST = Backoff(base=0.001, cap=0.002, max_retry_after=0.005)


class Clock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@dataclass(frozen=True)
class Handle:
    deployment_id: str
    group: str
    limits: DeploymentLimits = field(default_factory=DeploymentLimits)


def handles(group: str, *names: str, limits: DeploymentLimits | None = None) -> list[Handle]:
    return [Handle(name, group, limits or DeploymentLimits()) for name in names]


def engine(
    deployments: Sequence[Handle],
    settings: RouterSettings | None = None,
    clock: Clock | None = None,
    seed: int = 1,
) -> RoutingEngine[Handle]:
    return RoutingEngine(
        deployments,
        settings or RouterSettings(backoff=FAST),
        clock=clock or Clock(),
        rng=random.Random(seed),
    )


class Script:
    """An attempt function: each deployment id fails with its error, or answers its id."""

    def __init__(self, failures: dict[str, TokenwayError] | None = None) -> None:
        self.failures = dict(failures or {})
        self.calls: list[str] = []

    def __call__(self, handle: Handle, budget: float) -> str:
        self.calls.append(handle.deployment_id)
        error = self.failures.get(handle.deployment_id)
        if error is not None:
            raise error
        return handle.deployment_id

    async def async_(self, handle: Handle, budget: float) -> str:
        return self(handle, budget)


def counts(calls: Sequence[str]) -> dict[str, int]:
    out: dict[str, int] = {}
    for name in calls:
        out[name] = out.get(name, 0) + 1
    return out
