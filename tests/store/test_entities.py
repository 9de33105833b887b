"""Budgets, organizations and end users: stored, changed, listed and charged alike in
both dialects; spend rows carry the request's organization, end user, metadata and the
answer's id."""

from __future__ import annotations

import pytest
from tests.store.records import DAY, T0, key, spend, team

from tokenway.store import ConflictError, SpendFilter, Store
from tokenway.store.entities import BudgetRecord, EndUserRecord, OrganizationRecord


async def test_a_budget_round_trips_and_updates(store: Store) -> None:
    budget = BudgetRecord("free", max_budget=1.5, tpm_limit=2, budget_duration="1d")
    budget.budget_reset_at, budget.extra = T0 + DAY, {"model_max_budget": {"a": 1}}
    await store.create_budget(budget)
    found = await store.get_budget("free")
    assert found is not None and found.tpm_limit == 2 and found.max_budget == 1.5
    assert found.extra == {"model_max_budget": {"a": 1}} and found.created_at > 0
    changed = await store.update_budget("free", {"rpm_limit": 7, "max_budget": None})
    assert changed is not None and changed.rpm_limit == 7 and changed.max_budget is None
    assert await store.update_budget("nope", {"rpm_limit": 1}) is None
    with pytest.raises(ConflictError):
        await store.create_budget(BudgetRecord("free"))
    assert [b.budget_id for b in await store.list_budgets()] == ["free"]
    assert await store.delete_budgets(["free", "nope"]) == 1
    assert await store.get_budget("free") is None


async def test_an_unknown_field_is_refused(store: Store) -> None:
    await store.create_end_user(EndUserRecord("eu-1"))
    with pytest.raises(ValueError, match="unknown end user field"):
        await store.update_end_user("eu-1", {"user_id": "other"})


async def test_organizations_keep_members_and_models(store: Store) -> None:
    org = OrganizationRecord("org-1", "Acme", models=["gpt-4"], members=[{"user_id": "u"}])
    await store.create_organization(org)
    await store.create_organization(OrganizationRecord("org-2", "Acme"))  # aliases repeat
    found = await store.get_organization("org-1")
    assert found is not None and found.members == [{"user_id": "u"}]
    assert found.models == ["gpt-4"] and found.metadata == {} and found.spend == 0.0
    await store.update_organization("org-1", {"members": []})
    assert [o.organization_id for o in await store.list_organizations()] == ["org-1", "org-2"]
    assert await store.delete_organizations(["org-1"]) == 1
    assert [o.organization_id for o in await store.list_organizations()] == ["org-2"]


async def test_spend_reaches_the_organization_and_a_known_end_user(store: Store) -> None:
    await store.create_key(key("hash-1"))
    await store.create_team(team("team-1", organization_id="org-1"))
    await store.create_organization(OrganizationRecord("org-1"))
    await store.create_end_user(EndUserRecord("alice", blocked=True))
    rows = [
        spend("r1", cost=0.5, organization_id="org-1", end_user="alice"),
        spend("r2", cost=0.25, organization_id="org-1", end_user="bob"),  # bob has no record
    ]
    assert await store.add_spend(rows) == 2
    assert await store.add_spend(rows) == 0  # a replay adds nothing
    org, alice = await store.get_organization("org-1"), await store.get_end_user("alice")
    assert org is not None and org.spend == 0.75
    assert alice is not None and alice.spend == 0.5 and alice.blocked is True
    assert await store.get_end_user("bob") is None
    team_1 = await store.get_team("team-1")
    assert team_1 is not None and team_1.organization_id == "org-1"


async def test_a_row_is_found_by_its_answers_id_and_keeps_the_request_fields(
    store: Store,
) -> None:
    row = spend(
        "r1", response_id="chatcmpl-9", metadata='{"tag":"x"}', end_user="eve", organization_id="o"
    )
    await store.add_spend([row, spend("r2", response_id="chatcmpl-10")])
    by_answer = await store.spend_logs(SpendFilter(request_id="chatcmpl-9"))
    by_own_id = await store.spend_logs(SpendFilter(request_id="r1"))
    assert by_answer == by_own_id == [row]


async def test_an_end_users_spend_restarts_with_its_budgets_window(store: Store) -> None:
    await store.create_budget(BudgetRecord("daily", max_budget=1.0, budget_duration="1d"))
    await store.create_budget(BudgetRecord("forever", max_budget=1.0))
    await store.create_end_user(EndUserRecord("alice", budget_id="daily", budget_reset_at=T0))
    await store.create_end_user(EndUserRecord("bob", budget_id="forever", budget_reset_at=T0))
    await store.add_spend(
        [
            spend("old", cost=0.5, end_user="alice", started_at=T0 - 10),
            spend("new", cost=0.25, end_user="alice", started_at=T0 + 10),
            spend("bob", cost=0.5, end_user="bob", started_at=T0 - 10),
        ]
    )
    assert await store.reset_end_user_budgets(T0 + 60) == 1  # bob's budget has no window
    alice, bob = await store.get_end_user("alice"), await store.get_end_user("bob")
    assert alice is not None and alice.spend == 0.25 and alice.budget_reset_at == T0 + DAY
    assert bob is not None and bob.spend == 0.5
    assert await store.reset_end_user_budgets(T0 + 60) == 0


async def test_spend_by_team_and_key(store: Store) -> None:
    await store.add_spend(
        [
            spend("a", cost=0.5, key_hash="k1", team_id="t1"),
            spend("b", cost=0.25, key_hash="k1", team_id="t1"),
            spend("c", cost=1.0, key_hash="k2", team_id=None, started_at=T0 + DAY),
        ]
    )
    totals = await store.spend_by_team_and_key(SpendFilter())
    assert [(t.day, t.team_id, t.key_hash, t.requests, t.tokens, t.cost) for t in totals] == [
        ("2026-01-01", "t1", "k1", 2, 30, 0.75),
        ("2026-01-02", None, "k2", 1, 15, 1.0),
    ]
