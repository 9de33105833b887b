"""Team membership as LiteLLM's clients use it: ``members_with_roles`` on ``/team/new``,
``/team/member_add|delete|update``, ``/user/info`` listing the user's teams. On SQLite and
PostgreSQL (the ``admin`` fixture)."""

from __future__ import annotations

from typing import Any

import pytest
from tests.proxy.admin.admin_helpers import Admin

# The master key's user (LiteLLM's default_user_id), made admin of every team it creates.
CREATOR = {"user_id": "default_user_id", "user_email": None, "role": "admin"}


async def _team(admin: Admin, team_id: str, members: list[dict[str, Any]]) -> dict[str, Any]:
    reply = await admin.post("/team/new", {"team_id": team_id, "members_with_roles": members})
    assert reply.status == 200, reply.raw
    return dict(reply.json)


async def _members(admin: Admin, team_id: str) -> list[dict[str, Any]]:
    info = await admin.get("/team/info", team_id=team_id)
    assert info.status == 200, info.raw
    return list(info.json["team_info"]["members_with_roles"])


async def test_members_with_roles_on_team_new_make_missing_users(admin: Admin) -> None:
    assert (await admin.post("/user/new", {"user_id": "ann", "user_email": "a@x.io"})).status == 200
    team = await _team(
        admin,
        "t1",
        [{"role": "admin", "user_id": "ann"}, {"role": "user", "user_email": "new@x.io"}],
    )
    ann, new, creator = team["members_with_roles"]
    assert creator == CREATOR
    assert ann == {"user_id": "ann", "user_email": "a@x.io", "role": "admin"}
    assert new["user_email"] == "new@x.io" and new["role"] == "user"
    made = await admin.get("/user/info", user_id=new["user_id"])
    assert made.status == 200 and made.json["user_info"]["user_email"] == "new@x.io"
    assert [t["team_id"] for t in made.json["teams"]] == ["t1"]


async def test_member_add_one_or_many_and_refuse_duplicates(admin: Admin) -> None:
    await _team(admin, "t2", [])
    one = await admin.post("/team/member_add", {"team_id": "t2", "member": {"user_id": "u1"}})
    assert one.status == 200, one.raw
    assert [u["user_id"] for u in one.json["updated_users"]] == ["u1"]
    many = [{"role": "user", "user_id": f"m{i}"} for i in range(3)]
    assert (await admin.post("/team/member_add", {"team_id": "t2", "member": many})).status == 200
    names = [m["user_id"] for m in await _members(admin, "t2")]
    assert names == ["default_user_id", "u1", "m0", "m1", "m2"]
    again = await admin.post("/team/member_add", {"team_id": "t2", "member": [{"user_id": "u1"}]})
    assert again.status == 400 and again.error["code"] == "member_exists"
    assert len(await _members(admin, "t2")) == 5


async def test_member_delete_by_id_or_email_then_400(admin: Admin) -> None:
    await admin.post("/user/new", {"user_id": "bo", "user_email": "bo@x.io"})
    await _team(admin, "t3", [{"user_id": "bo"}, {"user_id": "cy"}])
    gone = await admin.post("/team/member_delete", {"team_id": "t3", "user_email": "bo@x.io"})
    assert gone.status == 200, gone.raw
    assert [m["user_id"] for m in gone.json["members_with_roles"]] == ["cy", "default_user_id"]
    again = await admin.post("/team/member_delete", {"team_id": "t3", "user_id": "bo"})
    assert again.status == 400 and again.error["code"] == "not_a_member"
    unnamed = await admin.post("/team/member_delete", {"team_id": "t3"})
    assert unnamed.status == 400 and unnamed.error["code"] == "missing_field"
    assert (await admin.get("/user/info", user_id="bo")).json["teams"] == []


async def test_member_update_stores_the_members_budget(admin: Admin) -> None:
    await _team(admin, "t4", [{"user_id": "di"}])
    body = {"team_id": "t4", "user_id": "di", "max_budget_in_team": 0.5, "role": "admin"}
    reply = await admin.post("/team/member_update", body)
    assert reply.status == 200, reply.raw
    assert reply.json["max_budget_in_team"] == 0.5 and reply.json["role"] == "admin"
    [team] = (await admin.get("/user/info", user_id="di")).json["teams"]
    [membership] = team["team_memberships"]
    assert membership["litellm_budget_table"]["max_budget"] == 0.5
    assert membership["role"] == "admin"


async def test_deleting_a_team_ends_its_memberships(admin: Admin) -> None:
    await _team(admin, "t5", [{"user_id": "ed"}])
    assert len((await admin.get("/user/info", user_id="ed")).json["teams"]) == 1
    assert (await admin.post("/team/delete", {"team_ids": ["t5"]})).status == 200
    assert (await admin.get("/user/info", user_id="ed")).json["teams"] == []


@pytest.mark.parametrize(
    "member",
    [{}, {"role": "owner", "user_id": "x"}, {"user_id": 5}, {"user_id": "x", "extra": 1}, "x"],
)
async def test_bad_members_are_400(admin: Admin, member: Any) -> None:
    reply = await admin.post("/team/new", {"members_with_roles": [member]})
    assert reply.status == 400 and reply.error["param"] == "members_with_roles"
    await _team(admin, "t6", [])
    reply = await admin.post("/team/member_add", {"team_id": "t6", "member": member})
    assert reply.status == 400 and reply.error["param"] == "member"


async def test_members_of_an_unknown_team_are_404(admin: Admin) -> None:
    reply = await admin.post("/team/member_add", {"team_id": "nope", "member": {"user_id": "a"}})
    assert reply.status == 404 and reply.error["code"] == "team_not_found"


async def test_the_creator_is_not_added_twice(admin: Admin) -> None:
    team = await _team(admin, "t8", [{"role": "user", "user_id": "default_user_id"}])
    assert team["members_with_roles"] == [{**CREATOR, "role": "user"}]


async def test_team_update_answers_with_data_as_litellm(admin: Admin) -> None:
    await _team(admin, "t7", [])
    reply = await admin.post("/team/update", {"team_id": "t7", "team_alias": "new"})
    assert reply.status == 200, reply.raw
    assert reply.json["data"]["team_alias"] == "new" and reply.json["team_alias"] == "new"
    assert reply.json["data"]["team_id"] == "t7"
