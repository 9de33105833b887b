"""Each strategy alone: given stats and a seeded random source, what does it choose?"""

from __future__ import annotations

import random
from collections import Counter

import pytest

from tokenway.router import DeploymentLimits, DeploymentStats
from tokenway.router.strategies import (
    EXPLORATION,
    GroupShape,
    latency_based,
    least_busy,
    simple_shuffle,
    strategy_for,
    usage_based,
)


def stats(n: int, **values: list[float]) -> list[DeploymentStats]:
    records = [DeploymentStats(f"d{i}") for i in range(n)]
    for name, column in values.items():
        for record, value in zip(records, column, strict=True):
            setattr(record, name, value)
    return records


def shape(*limits: DeploymentLimits) -> GroupShape:
    return GroupShape.of(limits)


def test_simple_shuffle_splits_3_to_1_by_weight() -> None:
    group = shape(DeploymentLimits(weight=3), DeploymentLimits(weight=1))
    rng = random.Random(7)
    picks = Counter(simple_shuffle(group, group.everyone, stats(2), rng) for _ in range(2000))
    assert abs(picks[0] / 2000 - 0.75) <= 0.05


def test_simple_shuffle_weights_by_rpm_without_weights_and_evenly_without_either() -> None:
    by_rpm = shape(DeploymentLimits(rpm=100), DeploymentLimits(rpm=300))
    assert by_rpm.weights == (100.0, 300.0)
    assert shape(DeploymentLimits(), DeploymentLimits()).weights == (1.0, 1.0)
    mixed = shape(DeploymentLimits(weight=4), DeploymentLimits(), DeploymentLimits(weight=2))
    assert mixed.weights == (4.0, 3.0, 2.0)  # a missing weight is the group's mean


def test_simple_shuffle_chooses_only_from_its_pool() -> None:
    group = shape(*(DeploymentLimits(weight=w) for w in (50, 1, 1)))
    rng = random.Random(1)
    assert {simple_shuffle(group, [1, 2], stats(3), rng) for _ in range(200)} == {1, 2}


def test_least_busy_picks_the_fewest_in_flight_and_spreads_ties() -> None:
    group = shape(*[DeploymentLimits()] * 4)
    rng = random.Random(3)
    busy = stats(4, in_flight=[3, 1, 2, 1])
    assert Counter(least_busy(group, group.everyone, busy, rng) for _ in range(400)).keys() == {
        1,
        3,
    }
    idle = stats(4)
    spread = Counter(least_busy(group, group.everyone, idle, rng) for _ in range(400))
    assert set(spread) == {0, 1, 2, 3}
    assert least_busy(group, [0, 2], busy, rng) == 2


def test_latency_based_prefers_the_fastest_but_keeps_exploring() -> None:
    group = shape(DeploymentLimits(), DeploymentLimits())
    rng = random.Random(11)
    measured = stats(2, latency=[0.050, 0.005])
    picks = Counter(latency_based(group, group.everyone, measured, rng) for _ in range(2000))
    assert picks[1] / 2000 >= 1 - EXPLORATION
    assert picks[0] > 0  # the slow one is still measured now and then


def test_latency_based_tries_an_unmeasured_deployment_first() -> None:
    group = shape(*[DeploymentLimits()] * 3)
    measured = stats(3, latency=[0.01, 0.0, 0.02])
    picks = Counter(
        latency_based(group, group.everyone, measured, random.Random(2)) for _ in range(100)
    )
    assert picks.most_common(1)[0][0] == 1


def test_usage_based_picks_the_most_headroom() -> None:
    group = shape(*[DeploymentLimits()] * 3)
    rng = random.Random(5)
    used = stats(3, usage=[0.5, 0.5, 0.6])  # the larger share used of rpm or tpm
    assert {usage_based(group, group.everyone, used, rng) for _ in range(50)} == {0, 1}
    used[1].usage = 0.1
    assert usage_based(group, group.everyone, used, rng) == 1
    assert usage_based(group, [0, 2], used, rng) == 0


@pytest.mark.parametrize(
    ("name", "strategy"),
    [
        ("simple-shuffle", simple_shuffle),
        ("least-busy", least_busy),
        ("latency-based-routing", latency_based),
        ("usage-based-routing", usage_based),
        ("usage-based-routing-v2", usage_based),
        ("cost-based-routing", simple_shuffle),  # accepted by the config, not implemented
    ],
)
def test_litellm_names(name: str, strategy: object) -> None:
    assert strategy_for(name) is strategy
