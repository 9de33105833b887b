"""``/end_user/*`` and ``/customer/*``: end users with shared or own budgets, blocks,
LiteLLM's shapes; every change reaches the request path's cache."""

from __future__ import annotations

from tests.proxy.admin.admin_helpers import START, Admin


async def test_an_end_user_on_a_shared_budget(admin: Admin) -> None:
    await admin.post("/budget/new", {"budget_id": "free", "tpm_limit": 2, "budget_duration": "1h"})
    reply = await admin.post(
        "/end_user/new",
        {"user_id": "alice", "budget_id": "free", "allowed_model_region": None},
    )
    assert reply.status == 200, reply.raw
    alice = reply.json
    assert alice["user_id"] == "alice" and alice["blocked"] is False and alice["spend"] == 0.0
    assert alice["litellm_budget_table"]["tpm_limit"] == 2
    assert alice["budget_reset_at"] == "2026-01-01T01:00:00+00:00"  # the budget's window
    assert "warnings" not in alice
    assert admin.end_users_changed == ["alice"]
    info = await admin.get("/customer/info", end_user_id="alice")
    assert info.json == alice


async def test_inline_limits_make_a_budget_of_its_own(admin: Admin) -> None:
    bob = (await admin.post("/customer/new", {"user_id": "bob", "max_budget": 1.5})).json
    budget = bob["litellm_budget_table"]
    assert budget["max_budget"] == 1.5 and budget["budget_id"] == bob["budget_id"]
    both = await admin.post(
        "/end_user/new", {"user_id": "carl", "budget_id": bob["budget_id"], "max_budget": 2}
    )
    assert both.status == 400 and both.error["param"] == "budget_id"
    unknown = await admin.post("/end_user/new", {"user_id": "dan", "budget_id": "nope"})
    assert unknown.status == 400 and unknown.error["code"] == "unknown_budget"
    assert [u["user_id"] for u in (await admin.get("/end_user/list")).json] == ["bob"]


async def test_block_unblock_update_delete(admin: Admin) -> None:
    await admin.post("/end_user/new", {"user_id": "eve"})
    blocked = await admin.post("/end_user/block", {"user_ids": ["eve", "mallory"]})
    assert blocked.json == {"blocked_users": ["eve", "mallory"]}
    assert (await admin.get("/end_user/info", end_user_id="mallory")).json["blocked"] is True
    await admin.post("/end_user/unblock", {"user_ids": ["eve"]})
    eve = await admin.post(
        "/end_user/update", {"user_id": "eve", "alias": "Eve", "default_model": "gpt-4"}
    )
    assert eve.json["blocked"] is False and eve.json["alias"] == "Eve"
    assert "default_model" in eve.json["warnings"][0]  # stored, not acted on: said so
    deleted = await admin.post("/end_user/delete", {"user_ids": ["eve", "mallory"]})
    assert deleted.json["deleted_customers"] == 2
    missing = await admin.get("/end_user/info", end_user_id="eve")
    assert missing.status == 404 and missing.error["code"] == "end_user_not_found"
    assert admin.end_users_changed.count("eve") == 5  # new, block, unblock, update, delete


async def test_an_end_users_spend_is_shown_after_rows_name_it(admin: Admin) -> None:
    from tests.proxy.admin.admin_helpers import spend_row

    await admin.post("/end_user/new", {"user_id": "fay"})
    await admin.store.add_spend([spend_row(0, end_user="fay", cost=0.75, started_at=START)])
    assert (await admin.get("/end_user/info", end_user_id="fay")).json["spend"] == 0.75
