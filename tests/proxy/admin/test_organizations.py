"""``/organization/*``: organizations with their budget, members and teams, in LiteLLM's
shapes; teams belong to one through ``organization_id``."""

from __future__ import annotations

from tests.proxy.admin.admin_helpers import Admin


async def new_org(admin: Admin, **fields: object) -> dict[str, object]:
    reply = await admin.post("/organization/new", {"organization_alias": "Acme", **fields})
    assert reply.status == 200, reply.raw
    return dict(reply.json)


async def test_an_organization_always_has_a_budget_and_lists_its_teams(admin: Admin) -> None:
    org = await new_org(admin, models=["nothing-served"])
    assert org["litellm_budget_table"] is not None and org["spend"] == 0.0
    assert "nothing-served" in org["warnings"][0]  # models: warned, as for teams
    org_id = org["organization_id"]
    team = await admin.post("/team/new", {"team_id": "t1", "organization_id": org_id})
    assert team.json["organization_id"] == org_id
    phantom = await admin.post("/team/new", {"organization_id": "nope"})
    assert phantom.status == 400 and phantom.error["code"] == "unknown_organization"
    [listed] = (await admin.get("/organization/list")).json
    assert [t["team_id"] for t in listed["teams"]] == ["t1"]
    info = (await admin.get("/organization/info", organization_id=org_id)).json
    assert info == listed


async def test_limits_are_stored_and_the_answer_says_they_are_not_enforced(admin: Admin) -> None:
    org = await new_org(admin, max_budget=10, tpm_limit=100)
    assert org["litellm_budget_table"]["max_budget"] == 10.0
    assert any("not capped" in w for w in org["warnings"])
    changed = await admin.send(
        "PATCH",
        "/organization/update",
        {"organization_id": org["organization_id"], "organization_alias": "Acme 2", "tpm_limit": 5},
    )
    assert changed.json["organization_alias"] == "Acme 2"
    assert changed.json["litellm_budget_table"]["tpm_limit"] == 5
    refused = await admin.post("/organization/new", {"organization_alias": "x", "blocked": True})
    assert refused.status == 400 and refused.error["param"] == "blocked"


async def test_members_are_added_updated_and_removed(admin: Admin) -> None:
    org_id = (await new_org(admin))["organization_id"]
    user = (await admin.post("/user/new", {"user_email": "ann@example.com"})).json
    added = await admin.post(
        "/organization/member_add",
        {
            "organization_id": org_id,
            "member": {"user_id": user["user_id"], "role": "internal_user"},
        },
    )
    assert added.status == 200, added.raw
    [membership] = added.json["updated_organization_memberships"]
    assert membership["user_role"] == "internal_user"
    by_email = await admin.post(
        "/organization/member_add",
        {"organization_id": org_id, "member": [{"user_email": "new@example.com"}]},
    )
    assert by_email.json["updated_users"][0]["user_email"] == "new@example.com"  # created
    twice = await admin.post(
        "/organization/member_add",
        {"organization_id": org_id, "member": {"user_id": user["user_id"]}},
    )
    assert twice.status == 400 and twice.error["code"] == "member_exists"
    update = {"organization_id": org_id, "user_id": user["user_id"], "role": "org_admin"}
    assert (await admin.send("PATCH", "/organization/member_update", update)).json[
        "user_role"
    ] == "org_admin"
    [org] = (await admin.get("/organization/list")).json
    assert [m["user_role"] for m in org["members"]] == ["org_admin", "internal_user"]
    gone = {"organization_id": org_id, "user_email": "new@example.com"}
    assert (await admin.send("DELETE", "/organization/member_delete", gone)).status == 200
    [org] = (await admin.get("/organization/list")).json
    assert [m["user_id"] for m in org["members"]] == [user["user_id"]]


async def test_deleting_an_organization_keeps_its_teams_outside_any(admin: Admin) -> None:
    org_id = (await new_org(admin))["organization_id"]
    await admin.post("/team/new", {"team_id": "t1", "organization_id": org_id})
    key = await admin.new_key(team_id="t1")
    admin.changed.clear()
    deleted = await admin.send("DELETE", "/organization/delete", {"organization_ids": [org_id]})
    assert deleted.status == 200 and deleted.json[0]["organization_id"] == org_id
    assert (await admin.get("/organization/list")).json == []
    team = (await admin.get("/team/info", team_id="t1")).json["team_info"]
    assert team["organization_id"] is None
    assert admin.changed == [key["token"]]  # its keys are read again
    again = await admin.send("DELETE", "/organization/delete", {"organization_ids": [org_id]})
    assert again.status == 404 and again.error["code"] == "organization_not_found"
