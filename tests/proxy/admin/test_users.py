"""``/user/*`` over real HTTP and the real SQLite store."""

from __future__ import annotations

import hashlib

from tests.proxy.admin.admin_helpers import SERVED, START, Admin, spend_row


async def test_new_user_gets_a_key_shown_once(admin: Admin) -> None:
    await admin.post("/team/new", {"team_id": "t1"})
    reply = await admin.post(
        "/user/new",
        {
            "user_id": "alice",
            "user_email": "alice@example.com",
            "user_role": "internal_user",
            "team_id": "t1",
            "models": [SERVED[0]],
            "max_budget": 20,
            "rpm_limit": 30,
            "metadata": {"dept": "r&d"},
        },
    )
    assert reply.status == 200
    body = reply.json
    assert body["user_id"] == "alice" and body["user_email"] == "alice@example.com"
    assert body["user_role"] == "internal_user" and body["team_id"] == "t1"
    assert body["models"] == [SERVED[0]] and body["max_budget"] == 20.0
    assert body["rpm_limit"] == 30 and body["spend"] == 0.0
    assert body["metadata"] == {"dept": "r&d"}
    assert body["key"].startswith("sk-")
    assert body["token"] == hashlib.sha256(body["key"].encode()).hexdigest()
    key = (await admin.get("/key/info", key=body["token"])).json["info"]
    assert (key["user_id"], key["team_id"], key["models"]) == ("alice", "t1", [SERVED[0]])


async def test_new_user_without_key_and_with_a_generated_id(admin: Admin) -> None:
    reply = await admin.post("/user/new", {"auto_create_key": False})
    assert reply.status == 200
    assert "key" not in reply.json and len(reply.json["user_id"]) == 36  # a UUID
    assert (await admin.get("/key/list")).json["total_count"] == 0


async def test_duplicate_user_is_409_and_unknown_team_400(admin: Admin) -> None:
    await admin.post("/user/new", {"user_id": "dup", "auto_create_key": False})
    again = await admin.post("/user/new", {"user_id": "dup"})
    assert again.status == 409 and again.error["param"] == "user_id"
    no_team = await admin.post("/user/new", {"user_id": "x", "team_id": "ghost"})
    assert no_team.status == 400 and no_team.error["param"] == "team_id"
    assert (await admin.get("/user/info", user_id="x")).status == 404


async def test_info_has_spend_keys_and_team(admin: Admin) -> None:
    await admin.post("/team/new", {"team_id": "t1", "team_alias": "One"})
    user = (await admin.post("/user/new", {"user_id": "bob", "team_id": "t1"})).json
    await admin.store.add_spend([spend_row(1, user_id="bob", key_hash=user["token"], cost=1.5)])
    reply = await admin.get("/user/info", user_id="bob")
    assert reply.status == 200
    body = reply.json
    assert body["user_id"] == "bob" and body["user_info"]["spend"] == 1.5
    assert [k["token"] for k in body["keys"]] == [user["token"]]
    assert body["keys"][0]["spend"] == 1.5
    assert [t["team_alias"] for t in body["teams"]] == ["One"]
    missing = await admin.get("/user/info", user_id="nobody")
    assert missing.status == 404 and missing.error["code"] == "user_not_found"


async def test_update_tells_the_cache_about_the_users_keys(admin: Admin) -> None:
    user = (await admin.post("/user/new", {"user_id": "carol"})).json
    other = await admin.new_key(user_id="carol")
    admin.clock.now = START + 10
    reply = await admin.post(
        "/user/update", {"user_id": "carol", "max_budget": 3, "budget_duration": "1d"}
    )
    assert reply.status == 200
    assert reply.json["max_budget"] == 3.0 and reply.json["budget_duration"] == "1d"
    assert reply.json["budget_reset_at"] is not None
    assert sorted(admin.changed) == sorted([user["token"], other["token"]])


async def test_delete_removes_the_users_keys(admin: Admin) -> None:
    user = (await admin.post("/user/new", {"user_id": "dave"})).json
    kept = await admin.new_key(user_id="erin")
    reply = await admin.post("/user/delete", {"user_ids": ["dave"]})
    assert reply.status == 200
    assert reply.json == {"deleted_users": ["dave"], "deleted_keys": [user["token"]]}
    assert admin.changed == [user["token"]]
    assert (await admin.get("/user/info", user_id="dave")).status == 404
    assert (await admin.get("/key/info", key=user["key"])).status == 404
    assert (await admin.get("/key/info", key=kept["key"])).status == 200


async def test_delete_of_an_unknown_user_deletes_nothing(admin: Admin) -> None:
    await admin.post("/user/new", {"user_id": "fay"})
    reply = await admin.post("/user/delete", {"user_ids": ["fay", "ghost"]})
    assert reply.status == 404 and "ghost" in reply.error["message"]
    assert (await admin.get("/user/info", user_id="fay")).status == 200


async def test_list_pages_with_totals(admin: Admin) -> None:
    for n in range(5):
        admin.clock.now = START + n
        await admin.post("/user/new", {"user_id": f"u{n}", "auto_create_key": False})
    reply = await admin.get("/user/list", page=2, page_size=2)
    assert reply.status == 200
    body = reply.json
    assert [u["user_id"] for u in body["users"]] == ["u2", "u3"]
    assert (body["total"], body["page"], body["page_size"], body["total_pages"]) == (5, 2, 2, 3)
    default = (await admin.get("/user/list")).json
    assert default["page_size"] == 25 and len(default["users"]) == 5


async def test_new_users_are_internal_users_unless_given_a_role(admin: Admin) -> None:
    plain = (await admin.post("/user/new", {"user_id": "u1"})).json
    assert plain["user_role"] == "internal_user"
    viewer = await admin.post("/user/new", {"user_id": "u2", "user_role": "proxy_admin_viewer"})
    assert viewer.json["user_role"] == "proxy_admin_viewer"


async def test_user_new_fills_in_a_user_made_on_the_fly_and_no_other(admin: Admin) -> None:
    await admin.new_key(user_id="owner")  # makes user "owner", empty
    reply = await admin.post("/user/new", {"user_id": "owner", "max_budget": 2})
    assert reply.status == 200, reply.raw
    info = (await admin.get("/user/info", user_id="owner")).json
    assert info["user_info"]["max_budget"] == 2
    assert info["user_info"]["user_role"] == "internal_user"
    assert len(info["keys"]) == 2  # the first key, and /user/new's
    again = await admin.post("/user/new", {"user_id": "owner"})
    assert again.status == 409 and again.error["code"] == "conflict"


async def test_user_update_of_an_unknown_user_makes_it(admin: Admin) -> None:
    reply = await admin.post("/user/update", {"user_id": "fresh", "spend": 0, "max_budget": 4})
    assert reply.status == 200, reply.raw
    assert reply.json["user_id"] == "fresh" and reply.json["max_budget"] == 4
    assert (await admin.get("/user/info", user_id="fresh")).status == 200
