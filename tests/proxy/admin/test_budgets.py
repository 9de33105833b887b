"""``/budget/*``: shared budget objects, in LiteLLM's shapes, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import datetime, timedelta

from tests.proxy.admin.admin_helpers import Admin


async def test_a_budget_with_a_duration_resets_one_duration_after_its_creation(
    admin: Admin,
) -> None:
    reply = await admin.post(
        "/budget/new", {"budget_id": "daily", "budget_duration": "1d", "max_budget": 0.02}
    )
    assert reply.status == 200, reply.raw
    budget = reply.json
    created = datetime.fromisoformat(budget["created_at"])
    assert datetime.fromisoformat(budget["budget_reset_at"]) == created + timedelta(days=1)
    assert budget["max_budget"] == 0.02 and budget["tpm_limit"] is None


async def test_new_update_info_list_settings_delete(admin: Admin) -> None:
    made = (await admin.post("/budget/new", {"tpm_limit": 2})).json
    budget_id = made["budget_id"]
    assert len(budget_id) == 36 and made["budget_reset_at"] is None  # a uuid; no window
    changed = await admin.post("/budget/update", {"budget_id": budget_id, "rpm_limit": 5})
    assert changed.json["rpm_limit"] == 5 and changed.json["tpm_limit"] == 2
    assert admin.end_users_changed == [None]  # end users on it are read again
    [info] = (await admin.post("/budget/info", {"budgets": [budget_id, "other"]})).json
    assert info["rpm_limit"] == 5
    assert [b["budget_id"] for b in (await admin.get("/budget/list")).json] == [budget_id]
    settings = (await admin.get("/budget/settings", budget_id=budget_id)).json
    assert {"field_name": "tpm_limit", "field_type": "integer", "field_value": 2} in settings
    assert (await admin.post("/budget/delete", {"id": budget_id})).status == 200
    assert (await admin.get("/budget/list")).json == []
    missing = await admin.post("/budget/delete", {"id": budget_id})
    assert missing.status == 404 and missing.error["code"] == "budget_not_found"


async def test_bad_values_are_refused_and_model_max_budget_is_kept_with_a_warning(
    admin: Admin,
) -> None:
    bad = await admin.post("/budget/new", {"tpm_limit": -1})
    assert bad.status == 400 and bad.error["param"] == "tpm_limit"
    unknown = await admin.post("/budget/new", {"max_budjet": 1})
    assert unknown.status == 400 and unknown.error["code"] == "unknown_field"
    kept = await admin.post("/budget/new", {"model_max_budget": {"gpt-4": {"budget": 1}}})
    assert kept.json["model_max_budget"] == {"gpt-4": {"budget": 1}}
    assert "not capped" in kept.json["warnings"][0]
    twice = await admin.post("/budget/new", {"budget_id": kept.json["budget_id"]})
    assert twice.status == 409
