"""``/team/*`` over real HTTP and the real SQLite store."""

from __future__ import annotations

from tests.proxy.admin.admin_helpers import SERVED, START, Admin, spend_row


async def test_new_team_shape(admin: Admin) -> None:
    reply = await admin.post(
        "/team/new",
        {
            "team_id": "ml",
            "team_alias": "ML",
            "models": list(SERVED[:2]),
            "max_budget": 100,
            "budget_duration": "30d",
            "tpm_limit": 10_000,
            "max_parallel_requests": 8,
            "metadata": {"cost_center": 7},
        },
    )
    assert reply.status == 200
    body = reply.json
    assert body["team_id"] == "ml" and body["team_alias"] == "ML"
    assert body["models"] == list(SERVED[:2]) and body["max_budget"] == 100.0
    assert body["budget_reset_at"] == "2026-01-31T00:00:00+00:00"
    assert body["tpm_limit"] == 10_000 and body["max_parallel_requests"] == 8
    assert body["blocked"] is False and body["spend"] == 0.0
    assert body["metadata"] == {"cost_center": 7}
    assert body["created_at"] == "2026-01-01T00:00:00+00:00"
    generated = await admin.post("/team/new", {})
    assert len(generated.json["team_id"]) == 36  # a UUID


async def test_duplicate_team_is_409(admin: Admin) -> None:
    await admin.post("/team/new", {"team_id": "same"})
    reply = await admin.post("/team/new", {"team_id": "same"})
    assert reply.status == 409 and reply.error["param"] == "team_id"


async def test_info_has_spend_and_keys(admin: Admin) -> None:
    await admin.post("/team/new", {"team_id": "ops"})
    key = await admin.new_key(team_id="ops")
    await admin.store.add_spend([spend_row(1, team_id="ops", key_hash=key["token"], cost=2.0)])
    reply = await admin.get("/team/info", team_id="ops")
    assert reply.status == 200
    body = reply.json
    assert body["team_id"] == "ops" and body["team_info"]["spend"] == 2.0
    assert [k["token"] for k in body["keys"]] == [key["token"]]
    assert key["key"].encode() not in reply.raw
    missing = await admin.get("/team/info", team_id="ghost")
    assert missing.status == 404 and missing.error["code"] == "team_not_found"


async def test_update_tells_the_cache_about_every_key_of_the_team(admin: Admin) -> None:
    await admin.post("/team/new", {"team_id": "red"})
    await admin.post("/team/new", {"team_id": "blue"})
    red = [await admin.new_key(team_id="red") for _ in range(2)]
    await admin.new_key(team_id="blue")
    reply = await admin.post(
        "/team/update", {"team_id": "red", "rpm_limit": 5, "blocked": True, "models": None}
    )
    assert reply.status == 200
    assert reply.json["rpm_limit"] == 5 and reply.json["blocked"] is True
    assert reply.json["models"] == []
    assert sorted(admin.changed) == sorted(k["token"] for k in red)
    missing = await admin.post("/team/update", {"team_id": "ghost", "rpm_limit": 1})
    assert missing.status == 404


async def test_delete_removes_keys_and_detaches_users(admin: Admin) -> None:
    await admin.post("/team/new", {"team_id": "gone"})
    user = (await admin.post("/user/new", {"user_id": "member", "team_id": "gone"})).json
    key = await admin.new_key(team_id="gone")
    reply = await admin.post("/team/delete", {"team_ids": ["gone"]})
    assert reply.status == 200
    assert reply.json["deleted_teams"] == ["gone"]
    assert sorted(reply.json["deleted_keys"]) == sorted([user["token"], key["token"]])
    assert sorted(admin.changed) == sorted([user["token"], key["token"]])
    assert (await admin.get("/team/info", team_id="gone")).status == 404
    member = await admin.get("/user/info", user_id="member")
    assert member.json["user_info"]["team_id"] is None and member.json["keys"] == []


async def test_delete_of_an_unknown_team_deletes_nothing(admin: Admin) -> None:
    await admin.post("/team/new", {"team_id": "stay"})
    reply = await admin.post("/team/delete", {"team_ids": ["stay", "ghost"]})
    assert reply.status == 404 and "ghost" in reply.error["message"]
    assert (await admin.get("/team/info", team_id="stay")).status == 200


async def test_list_is_an_array_in_pages(admin: Admin) -> None:
    for n in range(3):
        admin.clock.now = START + n
        await admin.post("/team/new", {"team_id": f"t{n}"})
    everything = await admin.get("/team/list")
    assert [t["team_id"] for t in everything.json] == ["t0", "t1", "t2"]
    second = await admin.get("/team/list", page=2, size=2)
    assert [t["team_id"] for t in second.json] == ["t2"]
