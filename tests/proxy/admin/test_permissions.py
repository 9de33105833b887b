"""Who may call which management route (``proxy/admin/permissions.py``), through the real
proxy with real keys, on SQLite and PostgreSQL: every rule of the table, allowed and refused."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from tests.proxy.conftest import RunningProxy
from tests.proxy.virtual_key_helpers import STORES, Management, Reply, keyed_proxy, store_url

from tokenway.emulator import Emulator
from tokenway.proxy.admin.permissions import RULES


@pytest.fixture(params=STORES)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return store_url(request, tmp_path)


@pytest.fixture
def proxy(emulator: Emulator, database_url: str) -> Any:
    with keyed_proxy(emulator, database_url) as running:
        yield running


def _user(proxy: RunningProxy, user_id: str, **fields: Any) -> Management:
    """A user made with /user/new (its key comes with it), as that user's key."""
    reply = Management(proxy).post("/user/new", {"user_id": user_id, **fields})
    assert reply.status == 200, reply.body
    return Management(proxy, key=reply.body["key"])


def _refused(reply: Reply) -> None:
    assert reply.status == 403, reply.body
    assert reply.error["type"] == "permission_error"


def _ok(reply: Reply) -> Any:
    assert reply.status == 200, reply.body
    return reply.body


def test_a_key_reads_its_own_info_and_no_other_keys(proxy: RunningProxy) -> None:
    admin = Management(proxy)
    mine, other = admin.new_key(), admin.new_key()
    me = Management(proxy, key=mine["key"])
    assert _ok(me.get("/key/info"))["info"]["token"] == mine["token"]  # no key: itself
    assert _ok(me.get("/key/info", key=mine["key"]))["key"] == mine["token"]
    _refused(me.get("/key/info", key=other["key"]))
    assert me.get("/key/info", key="sk-never-issued").status == 404
    assert admin.get("/key/info").status == 400  # the master key must name one


def test_a_user_reads_only_their_own_user_info(proxy: RunningProxy) -> None:
    ann = _user(proxy, "ann")
    _user(proxy, "bob")
    assert _ok(ann.get("/user/info"))["user_info"]["user_id"] == "ann"
    assert _ok(ann.get("/user/info", user_id="ann"))["user_info"]["user_role"] == "internal_user"
    _refused(ann.get("/user/info", user_id="bob"))
    ownerless = Management(proxy, key=Management(proxy).new_key()["key"])
    _refused(ownerless.get("/user/info", user_id="ann"))


def test_an_internal_user_makes_lists_and_deletes_only_their_own_keys(
    proxy: RunningProxy,
) -> None:
    ann, bob = _user(proxy, "ann"), _user(proxy, "bob")
    made = _ok(ann.post("/key/generate", {"key_alias": "ann-2"}))
    assert made["user_id"] == "ann"  # for themselves when they name nobody
    assert _ok(ann.get("/key/info", key=made["key"]))["info"]["key_alias"] == "ann-2"
    _refused(bob.get("/key/info", key=made["key"]))
    _refused(ann.post("/key/generate", {"user_id": "bob"}))
    _refused(ann.post("/key/generate", {"spend": 5}))
    listed = _ok(ann.get("/key/list", return_full_object="true"))["keys"]
    assert {key["user_id"] for key in listed} == {"ann"} and len(listed) == 2
    _refused(ann.get("/key/list", user_id="bob"))
    assert _ok(ann.post("/key/update", {"key": made["key"], "metadata": {"a": 1}}))
    _refused(ann.post("/key/update", {"key": made["key"], "user_id": "bob"}))
    _refused(ann.post("/key/update", {"key": made["key"], "max_budget": 100}))
    _refused(ann.post("/key/update", {"key": made["key"], "blocked": False}))
    _refused(bob.post("/key/delete", {"keys": [made["key"]]}))
    _refused(bob.post("/key/delete", {"key_aliases": ["ann-2"]}))
    _refused(bob.post("/key/regenerate", {"key": made["key"]}))
    assert _ok(ann.post("/key/delete", {"keys": [made["key"]]}))["deleted_keys"] == [made["token"]]


def test_viewers_and_users_without_a_role_change_nothing(proxy: RunningProxy) -> None:
    viewer = _user(proxy, "vi", user_role="internal_user_viewer")
    _refused(viewer.post("/key/generate", {}))
    assert len(_ok(viewer.get("/key/list"))["keys"]) == 1  # their own
    made_on_the_fly = Management(proxy).new_key(user_id="nobody-yet")  # no role
    roleless = Management(proxy, key=made_on_the_fly["key"])
    _refused(roleless.post("/key/generate", {}))
    _refused(roleless.get("/key/list"))
    assert _ok(roleless.get("/user/info"))["user_id"] == "nobody-yet"


def test_a_team_admin_manages_the_team_keys_and_members(proxy: RunningProxy) -> None:
    admin = Management(proxy)
    boss, worker = _user(proxy, "boss"), _user(proxy, "worker")
    _user(proxy, "stranger")
    members = [{"role": "admin", "user_id": "boss"}, {"role": "user", "user_id": "worker"}]
    _ok(admin.post("/team/new", {"team_id": "t1", "members_with_roles": members}))
    _ok(admin.post("/team/new", {"team_id": "t2"}))
    key = _ok(boss.post("/key/generate", {"team_id": "t1", "user_id": "worker"}))
    _refused(boss.post("/key/generate", {"team_id": "t1", "user_id": "stranger"}))
    _refused(boss.post("/key/generate", {"team_id": "t2"}))
    assert _ok(boss.get("/key/info", key=key["key"]))["info"]["user_id"] == "worker"
    assert [k for k in _ok(boss.get("/key/list", team_id="t1"))["keys"]] == [key["token"]]
    _refused(worker.get("/key/list", team_id="t1"))
    _ok(boss.post("/key/update", {"key": key["key"], "max_budget": 3}))  # the team caps it
    _refused(boss.post("/key/update", {"key": key["key"], "team_id": "t2"}))
    _ok(boss.post("/team/member_add", {"team_id": "t1", "member": {"user_id": "stranger"}}))
    _ok(boss.post("/team/member_update", {"team_id": "t1", "user_id": "stranger", "role": "user"}))
    _ok(boss.post("/team/member_delete", {"team_id": "t1", "user_id": "stranger"}))
    _refused(boss.post("/team/member_add", {"team_id": "t2", "member": {"user_id": "stranger"}}))
    _refused(worker.post("/team/member_add", {"team_id": "t1", "member": {"user_id": "x"}}))
    _refused(worker.post("/team/update", {"team_id": "t1", "max_budget": 9}))
    _ok(boss.post("/key/delete", {"keys": [key["key"]]}))


def test_team_info_for_the_team_s_keys_and_members_only(proxy: RunningProxy) -> None:
    admin = Management(proxy)
    _ok(admin.post("/team/new", {"team_id": "t1", "members_with_roles": [{"user_id": "ann"}]}))
    team_key = Management(proxy, key=admin.new_key(team_id="t1")["key"])
    assert _ok(team_key.get("/team/info", team_id="t1"))["team_id"] == "t1"
    assert _ok(_user(proxy, "ann").get("/team/info", team_id="t1"))["team_id"] == "t1"
    _refused(Management(proxy, key=admin.new_key()["key"]).get("/team/info", team_id="t1"))


def test_a_proxy_admin_viewer_reads_everything_and_changes_nothing(proxy: RunningProxy) -> None:
    admin = Management(proxy)
    _ok(admin.post("/team/new", {"team_id": "t1"}))
    other = admin.new_key()
    viewer = _user(proxy, "vw", user_role="proxy_admin_viewer")
    for path, query in [
        ("/user/list", {}),
        ("/team/list", {}),
        ("/team/info", {"team_id": "t1"}),
        ("/key/info", {"key": other["key"]}),
        ("/spend/logs", {}),
    ]:
        _ok(viewer.get(path, **query))
    assert len(_ok(viewer.get("/key/list"))["keys"]) == 2
    _refused(viewer.post("/key/generate", {}))
    refused = viewer.post("/user/new", {})
    _refused(refused)
    assert refused.error["code"] == "master_key_required"


def test_a_proxy_admin_user_s_key_is_an_admin(proxy: RunningProxy) -> None:
    other = Management(proxy).new_key()
    boss = _user(proxy, "root", user_role="proxy_admin")
    _ok(boss.post("/user/new", {"user_id": "made-by-root"}))
    _ok(boss.post("/key/delete", {"keys": [other["key"]]}))
    assert len(_ok(boss.get("/user/list"))["users"]) == 2


def test_bad_blocked_and_expired_keys_are_401(proxy: RunningProxy) -> None:
    admin = Management(proxy)
    unknown = Management(proxy, key="sk-not-a-key").get("/key/info")
    assert unknown.status == 401 and unknown.error["type"] == "authentication_error"
    blocked = admin.new_key()
    _ok(admin.post("/key/block", {"key": blocked["key"]}))
    refused = Management(proxy, key=blocked["key"]).get("/key/info")
    assert refused.status == 401 and refused.error["code"] == "key_blocked"
    expired = admin.new_key(duration="1s")
    time.sleep(1.1)
    refused = Management(proxy, key=expired["key"]).get("/key/info")
    assert refused.status == 401 and refused.error["code"] == "key_expired"


def test_a_team_creator_is_its_admin_unless_disabled_for_admins(
    emulator: Emulator, database_url: str
) -> None:
    creator = {"user_id": "default_user_id", "user_email": None, "role": "admin"}
    with keyed_proxy(emulator, database_url) as proxy:
        team = _ok(Management(proxy).post("/team/new", {"team_id": "t1"}))
        assert team["members_with_roles"] == [creator]
    general = {"disable_auto_add_proxy_admin_to_teams": True}
    with keyed_proxy(emulator, database_url, **general) as proxy:
        assert (
            _ok(Management(proxy).post("/team/new", {"team_id": "t2"}))["members_with_roles"] == []
        )


def test_every_rule_names_a_management_route_and_nothing_else_is_open(
    proxy: RunningProxy,
) -> None:
    routes = {(method, path) for method, path in proxy.app._admin}
    assert set(RULES) <= routes
    opened = Management(proxy, key=Management(proxy).new_key()["key"])
    for method, path in sorted(routes - set(RULES)):
        # POST, and LiteLLM's PATCH and DELETE routes, with an empty body
        reply = opened.get(path) if method == "GET" else opened._send(method, path, b"{}")
        assert reply.status == 403, (method, path, reply.body)
