"""Budget windows: ``reset_budgets`` starts the next window of what is due and moves it on."""

from __future__ import annotations

from tests.store.records import T0, budget, key, spend, team, user

from tokenway.store import Limits, Store

HOUR = 3600.0


def spent_budget(duration: str | None, reset_at: float | None) -> Limits:
    limits = budget(10.0, duration, reset_at)
    limits.spend = 4.0
    return limits


async def test_due_budgets_reset_and_move_past_now(store: Store) -> None:
    now = T0 + 5.5 * HOUR
    await store.create_key(key("due", limits=spent_budget("1h", T0)))
    await store.create_key(key("later", limits=spent_budget("1h", now + 1)))
    await store.create_key(key("unlimited", limits=spent_budget(None, None)))
    await store.create_user(user("due", limits=spent_budget("1d", T0)))
    await store.create_team(team("due", limits=spent_budget("30m", now)))
    assert await store.reset_budgets(now) == 3

    due_key, later, unlimited = [await store.get_key(h) for h in ("due", "later", "unlimited")]
    assert due_key is not None and later is not None and unlimited is not None
    assert (due_key.limits.spend, due_key.limits.budget_reset_at) == (0.0, T0 + 6 * HOUR)
    assert later.limits == spent_budget("1h", now + 1)
    assert unlimited.limits.spend == 4.0
    due_user, due_team = await store.get_user("due"), await store.get_team("due")
    assert due_user is not None and due_team is not None
    assert (due_user.limits.spend, due_user.limits.budget_reset_at) == (0.0, T0 + 24 * HOUR)
    # reset_at == now is due, and the next window starts strictly after now
    assert (due_team.limits.spend, due_team.limits.budget_reset_at) == (0.0, now + 0.5 * HOUR)


async def test_a_second_run_at_the_same_time_resets_nothing(store: Store) -> None:
    await store.create_key(key("due", limits=spent_budget("1h", T0)))
    assert await store.reset_budgets(T0 + 10) == 1
    assert await store.reset_budgets(T0 + 10) == 0


async def test_a_reset_time_without_a_duration_resets_once(store: Store) -> None:
    await store.create_key(key("once", limits=spent_budget(None, T0)))
    assert await store.reset_budgets(T0) == 1
    once = await store.get_key("once")
    assert once is not None and (once.limits.spend, once.limits.budget_reset_at) == (0.0, None)


async def test_spend_after_a_reset_counts_in_the_new_window(store: Store) -> None:
    await store.create_key(key("hash-1", limits=spent_budget("1h", T0)))
    await store.reset_budgets(T0 + 1)
    await store.add_spend([spend("req-1", cost=1.5)])
    fresh = await store.get_key("hash-1")
    assert fresh is not None and fresh.limits.spend == 1.5
