"""MemoryState: usage windows that never under-count, failures, cooldowns, latency EWMA."""

from __future__ import annotations

from tokenway.router import DeploymentLimits, MemoryState


def state_with(*ids: str) -> MemoryState:
    state = MemoryState()
    state.add_group("g", ids, [DeploymentLimits()] * len(ids))
    return state


def test_requests_stay_in_the_rpm_window_for_at_least_60_seconds() -> None:
    state = state_with("a")
    state.begin("a", 100.9)
    state.begin("a", 101.2)
    (a,) = state.view("g", 160.95)
    assert (a.rpm_used, a.in_flight) == (2, 2)
    assert state.view("g", 161.0)[0].rpm_used == 1  # begun in second 100, gone at 161
    assert state.view("g", 162.0)[0].rpm_used == 0
    assert a.in_flight == 2  # in flight is not a window: only end() lowers it


def test_tokens_count_for_tpm_and_leave_with_their_second() -> None:
    state = state_with("a", "b")
    state.add_tokens("a", 10.0, 500)
    state.add_tokens("a", 30.0, 250)
    state.add_tokens("b", 30.0, 0)
    a, b = state.view("g", 40.0)
    assert (a.tpm_used, b.tpm_used) == (750, 0)
    assert state.view("g", 71.0)[0].tpm_used == 250
    assert state.next_capacity("a", 71.0) == 20.0
    assert state.next_capacity("b", 71.0) is None


def test_latency_is_an_ewma_started_by_the_first_sample() -> None:
    state = state_with("a")
    state.begin("a", 0.0)
    state.end("a", 0.100)
    state.begin("a", 0.0)
    state.end("a", 0.200)
    state.begin("a", 0.0)
    state.end("a", None)  # no sample: latency unchanged
    (a,) = state.view("g", 0.0)
    assert a.in_flight == 0
    assert abs(a.latency - 0.130) < 1e-9


def test_failures_are_counted_within_their_window_and_reset_by_a_cooldown() -> None:
    state = state_with("a")
    assert [state.fail("a", t, 60.0) for t in (0.0, 10.0, 20.0)] == [1, 2, 3]
    assert state.fail("a", 65.0, 60.0) == 3  # the one at 0 s left the window
    state.cool_down("a", 70.0)
    (a,) = state.view("g", 66.0)
    assert (a.cooldown_until, a.last_failed_at, len(a.failures)) == (70.0, 65.0, 0)
    state.cool_down("a", 68.0)  # a shorter cooldown never shortens the current one
    assert a.cooldown_until == 70.0
    state.recover("a")
    assert a.cooldown_until == 0.0


def test_deployments_are_shared_by_id_across_groups() -> None:
    state = MemoryState()
    state.add_group("g", ["a", "b"], [DeploymentLimits()] * 2)
    state.add_group("h", ["b"], [DeploymentLimits()])
    state.begin("b", 0.0)
    assert state.view("h", 0.0)[0] is state.view("g", 0.0)[1]


def test_usage_is_the_fuller_share_of_rpm_or_tpm() -> None:
    state = MemoryState()
    limits = [DeploymentLimits(rpm=10, tpm=1000), DeploymentLimits(rpm=100), DeploymentLimits()]
    state.add_group("g", ["a", "b", "c"], limits)
    for deployment_id in ("a", "b", "c"):
        state.begin(deployment_id, 0.0)
    state.add_tokens("a", 0.0, 500)
    state.add_tokens("c", 0.0, 500)
    a, b, c = state.view("g", 1.0)
    assert (a.usage, b.usage) == (0.5, 0.01)
    assert c.usage == 0.5  # no limits: scaled by the group's largest (rpm 100, tpm 1000)
    assert [s.usage for s in state.view("g", 70.0)] == [0.0, 0.0, 0.0]
