"""Cooldowns told to other processes and taken from them."""

from __future__ import annotations

from tokenway.router.handles import DeploymentLimits
from tokenway.router.shared import SharedCooldowns


def state(now: list[float]) -> SharedCooldowns:
    shared = SharedCooldowns(clock=lambda: now[0])
    shared.add_group("m", ["d1", "d2"], [DeploymentLimits(), DeploymentLimits()])
    return shared


def test_a_cooldown_is_published_as_the_seconds_it_has_left() -> None:
    now = [100.0]
    shared, sent = state(now), []
    shared.publish = lambda deployment, seconds: sent.append((deployment, seconds))

    shared.cool_down("d1", 130.0)
    shared.recover("d1")

    assert sent == [("d1", 30.0), ("d1", 0.0)]


def test_a_cooldown_heard_applies_on_this_process_s_clock_and_is_not_sent_back() -> None:
    now = [5_000.0]
    shared, sent = state(now), []
    shared.publish = lambda deployment, seconds: sent.append((deployment, seconds))

    shared.apply("d2", 30.0)
    cooled = {s.deployment_id: s.cooldown_until for s in shared.view("m", now[0])}
    shared.apply("d2", 0.0)
    shared.apply("not-here", 10.0)  # another config's deployment: ignored

    assert cooled == {"d1": 0.0, "d2": 5_030.0}
    assert all(s.cooldown_until == 0.0 for s in shared.view("m", now[0]))
    assert sent == []
