"""``/key/*`` over real HTTP and the real SQLite store."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any

from tests.proxy.admin.admin_helpers import SERVED, START, Admin, spend_row, stored_key_rows

DAY = 86400.0


def sha256(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def iso(moment: float) -> str:
    return datetime.fromtimestamp(moment, UTC).isoformat()


async def test_generate_returns_the_secret_once_with_hash_name_and_settings(admin: Admin) -> None:
    await admin.post("/team/new", {"team_id": "t1"})
    settings: dict[str, Any] = {
        "key_alias": "ci-bot",
        "models": [SERVED[0]],
        "max_budget": 10,
        "budget_duration": "30d",
        "rpm_limit": 60,
        "tpm_limit": 1000,
        "max_parallel_requests": 2,
        "duration": "7d",
        "metadata": {"owner": "ci"},
        "user_id": "alice",
        "team_id": "t1",
    }
    reply = await admin.post("/key/generate", settings)
    assert reply.status == 200
    assert reply.headers["x-request-id"].startswith("req-")
    body = reply.json
    secret = body["key"]
    assert secret.startswith("sk-") and len(secret) >= 3 + 43  # 32 random bytes, base64url
    assert body["token"] == sha256(secret)
    assert body["key_name"] == f"sk-...{secret[-4:]}"
    assert {name: body[name] for name in settings if name != "duration"} == {
        **{k: v for k, v in settings.items() if k != "duration"},
        "max_budget": 10.0,
    }
    assert body["expires"] == iso(START + 7 * DAY)
    assert body["budget_reset_at"] == iso(START + 30 * DAY)
    assert body["spend"] == 0.0 and body["blocked"] is False


async def test_two_keys_never_share_a_secret(admin: Admin) -> None:
    first, second = await admin.new_key(), await admin.new_key()
    assert first["key"] != second["key"] and first["token"] != second["token"]


async def test_only_the_hash_is_stored(admin: Admin) -> None:
    secret = (await admin.new_key(key_alias="stored"))["key"]
    [row] = await stored_key_rows(admin)
    assert row["key_hash"] == sha256(secret) and row["key_name"] == f"sk-...{secret[-4:]}"
    assert all(secret[3:] not in str(value) for value in row.values())
    if admin.db_path is not None:  # not even in a page of the file or its WAL
        for file in admin.db_path.parent.iterdir():
            assert secret[3:].encode() not in file.read_bytes()


async def test_no_answer_but_generate_shows_the_secret(admin: Admin) -> None:
    secret = (await admin.new_key(key_alias="quiet", user_id="bob"))["key"]
    replies = [
        await admin.get("/key/info", key=secret),
        await admin.get("/key/list", return_full_object="true"),
        await admin.post("/key/update", {"key": secret, "rpm_limit": 5}),
        await admin.post("/key/block", {"key": secret}),
        await admin.post("/key/unblock", {"key": secret}),
        await admin.get("/user/info", user_id="bob"),
        await admin.post("/key/delete", {"keys": [secret]}),
    ]
    for reply in replies:
        assert reply.status == 200, reply.raw
        assert secret.encode() not in reply.raw
        assert secret[3:].encode() not in reply.raw


async def test_info_by_secret_or_hash_includes_spend(admin: Admin) -> None:
    key = await admin.new_key(key_alias="spender")
    await admin.store.add_spend([spend_row(1, key_hash=key["token"], cost=0.5)])
    by_secret = await admin.get("/key/info", key=key["key"])
    by_hash = await admin.get("/key/info", key=key["token"])
    assert by_secret.status == by_hash.status == 200
    assert by_secret.json == by_hash.json
    assert by_hash.json["key"] == key["token"]
    assert by_hash.json["info"]["spend"] == 0.5
    assert by_hash.json["info"]["key_alias"] == "spender"


async def test_info_of_an_unknown_key_is_404(admin: Admin) -> None:
    reply = await admin.get("/key/info", key="sk-nope")
    assert reply.status == 404
    assert reply.error["code"] == "key_not_found" and reply.error["param"] == "key"
    assert "sk-nope" not in reply.raw.decode()
    missing = await admin.get("/key/info")
    assert missing.status == 400 and missing.error["param"] == "key"


async def test_list_filters_and_pages(admin: Admin) -> None:
    await admin.post("/team/new", {"team_id": "t1"})
    made = []
    for n in range(5):  # listed in creation order
        admin.clock.now = START + n
        made.append(await admin.new_key(key_alias=f"k{n}", user_id=f"u{1 + n // 3}", team_id="t1"))
    first = await admin.get("/key/list", size=2)
    assert first.json == {
        "keys": [made[0]["token"], made[1]["token"]],
        "total_count": 5,
        "current_page": 1,
        "total_pages": 3,
    }
    last = await admin.get("/key/list", size=2, page=3)
    assert last.json["keys"] == [made[4]["token"]] and last.json["current_page"] == 3
    assert (await admin.get("/key/list", page=9)).json["keys"] == []
    by_user = await admin.get("/key/list", user_id="u1")
    assert by_user.json["keys"] == [k["token"] for k in made[:3]]
    assert by_user.json["total_count"] == 3
    by_team = await admin.get("/key/list", team_id="t1", user_id="u2")
    assert by_team.json["keys"] == [k["token"] for k in made[3:]]
    by_alias = await admin.get("/key/list", key_alias="k4", return_full_object="true")
    [full] = by_alias.json["keys"]
    assert full["token"] == made[4]["token"] and full["key_alias"] == "k4"
    assert (await admin.get("/key/list", team_id="nobody")).json["total_count"] == 0


async def test_update_changes_settings_and_tells_the_cache(admin: Admin) -> None:
    key = await admin.new_key(key_alias="before", duration="1d", rpm_limit=5)
    admin.clock.now = START + 100
    reply = await admin.post(
        "/key/update",
        {
            "key": key["key"],
            "key_alias": "after",
            "rpm_limit": None,
            "tpm_limit": 50,
            "models": [SERVED[1]],
            "duration": "2d",
            "budget_duration": "1h",
            "metadata": {"a": 1},
        },
    )
    assert reply.status == 200
    body = reply.json
    assert body["key_alias"] == "after" and body["rpm_limit"] is None
    assert body["tpm_limit"] == 50 and body["models"] == [SERVED[1]]
    assert body["expires"] == iso(START + 100 + 2 * DAY)
    assert body["budget_reset_at"] == iso(START + 100 + 3600)
    assert body["metadata"] == {"a": 1}
    assert admin.changed == [key["token"]]
    never = await admin.post("/key/update", {"key": key["token"], "duration": None})
    assert never.json["expires"] is None
    assert (await admin.get("/key/info", key=key["token"])).json["info"]["key_alias"] == "after"


async def test_update_of_an_unknown_key_is_404_and_calls_nothing(admin: Admin) -> None:
    reply = await admin.post("/key/update", {"key": "sk-unknown", "rpm_limit": 1})
    assert reply.status == 404 and reply.error["code"] == "key_not_found"
    assert admin.changed == []


async def test_delete_by_secret_hash_or_alias(admin: Admin) -> None:
    a, b, c = [await admin.new_key(key_alias=name) for name in "abc"]
    reply = await admin.post("/key/delete", {"keys": [a["key"], b["token"]]})
    assert reply.status == 200
    assert reply.json == {"deleted_keys": [a["token"], b["token"]]}
    assert admin.changed == [a["token"], b["token"]]
    by_alias = await admin.post("/key/delete", {"key_aliases": ["c"]})
    assert by_alias.json == {"deleted_keys": [c["token"]]}
    assert (await admin.get("/key/list")).json["total_count"] == 0
    assert (await admin.get("/key/info", key=a["key"])).status == 404


async def test_delete_with_an_unknown_key_deletes_nothing(admin: Admin) -> None:
    key = await admin.new_key(key_alias="keep")
    reply = await admin.post("/key/delete", {"keys": [key["token"], "sk-ghost"]})
    assert reply.status == 404 and reply.error["param"] == "keys"
    alias = await admin.post("/key/delete", {"key_aliases": ["keep", "ghost"]})
    assert alias.status == 404 and "ghost" in alias.error["message"]
    assert (await admin.get("/key/info", key=key["token"])).status == 200
    assert admin.changed == []


async def test_delete_needs_exactly_one_way_to_name_keys(admin: Admin) -> None:
    for body in ({}, {"keys": ["sk-a"], "key_aliases": ["a"]}):
        reply = await admin.post("/key/delete", body)
        assert reply.status == 400 and reply.error["param"] == "keys"


async def test_regenerate_replaces_the_secret_and_keeps_the_settings(admin: Admin) -> None:
    old = await admin.new_key(key_alias="rotate", rpm_limit=7, models=[SERVED[2]])
    reply = await admin.post("/key/regenerate", {"key": old["key"]})
    assert reply.status == 200
    new = reply.json
    assert new["key"] != old["key"] and new["token"] == sha256(new["key"])
    assert new["key_name"] == f"sk-...{new['key'][-4:]}"
    kept = ("key_alias", "rpm_limit", "models", "created_at")
    assert {k: new[k] for k in kept} == {k: old[k] for k in kept}
    assert admin.changed == [old["token"]]
    assert (await admin.get("/key/info", key=old["key"])).status == 404
    assert (await admin.get("/key/info", key=new["key"])).json["info"]["key_alias"] == "rotate"
    assert [row["key_hash"] for row in await stored_key_rows(admin)] == [new["token"]]
    again = await admin.post("/key/regenerate", {"key": old["key"]})
    assert again.status == 404


async def test_block_and_unblock(admin: Admin) -> None:
    key = await admin.new_key()
    blocked = await admin.post("/key/block", {"key": key["key"]})
    assert blocked.status == 200 and blocked.json["blocked"] is True
    assert (await admin.get("/key/info", key=key["token"])).json["info"]["blocked"] is True
    unblocked = await admin.post("/key/unblock", {"key": key["token"]})
    assert unblocked.json["blocked"] is False
    assert admin.changed == [key["token"], key["token"]]
    missing = await admin.post("/key/block", {"key": "sk-nothing"})
    assert missing.status == 404


async def test_generate_blocked_and_update_blocked(admin: Admin) -> None:
    key = await admin.new_key(blocked=True)
    assert key["blocked"] is True
    reply = await admin.post("/key/update", {"key": key["token"], "blocked": False})
    assert reply.json["blocked"] is False


async def test_a_duplicate_alias_is_409(admin: Admin) -> None:
    await admin.new_key(key_alias="twin")
    reply = await admin.post("/key/generate", {"key_alias": "twin"})
    assert reply.status == 409
    assert reply.error["param"] == "key_alias" and reply.error["code"] == "conflict"
    other = await admin.new_key(key_alias="other")
    clash = await admin.post("/key/update", {"key": other["token"], "key_alias": "twin"})
    assert clash.status == 409


async def test_unknown_user_is_created_unknown_team_is_refused(admin: Admin) -> None:
    await admin.new_key(user_id="new-user")
    info = await admin.get("/user/info", user_id="new-user")
    assert info.status == 200 and len(info.json["keys"]) == 1
    reply = await admin.post("/key/generate", {"team_id": "no-such-team"})
    assert reply.status == 400
    assert reply.error["param"] == "team_id" and "/team/new" in reply.error["message"]
    key = await admin.new_key()
    update = await admin.post("/key/update", {"key": key["token"], "team_id": "no-such-team"})
    assert update.status == 400 and admin.changed == []


async def test_key_limits_above_its_teams_are_accepted(admin: Admin) -> None:
    await admin.post("/team/new", {"team_id": "small", "max_budget": 1, "rpm_limit": 10})
    key = await admin.new_key(team_id="small", max_budget=100, rpm_limit=1000)
    assert key["max_budget"] == 100.0 and key["rpm_limit"] == 1000
