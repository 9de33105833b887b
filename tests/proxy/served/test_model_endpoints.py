"""The model endpoints end to end: a real proxy over SQLite and PostgreSQL in front of the
emulator, called over HTTP (urllib) and with the OpenAI SDK, as LiteLLM clients do."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest
from tests.proxy.conftest import MASTER_KEY, UPSTREAM_KEY, RunningProxy
from tests.proxy.ui.ui_helpers import logged_in
from tests.proxy.virtual_key_helpers import (
    ALIAS,
    MESSAGES,
    OTHER_ALIAS,
    STORES,
    Management,
    keyed_proxy,
    sdk,
    store_url,
    wait_for,
)

from tokenway.emulator import Emulator
from tokenway.store import open_store

UPSTREAM = "inference/meta-llama/llama-3.1-8b-instruct/fp-16"


@pytest.fixture(params=STORES)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return store_url(request, tmp_path)


@pytest.fixture
def proxy(emulator: Emulator, database_url: str) -> Iterator[RunningProxy]:
    with keyed_proxy(emulator, database_url, store_model_in_db=True) as running:
        yield running


def _new_model(emulator: Emulator, name: str = "added", **info: Any) -> dict[str, Any]:
    return {
        "model_name": name,
        "litellm_params": {
            "model": UPSTREAM,
            "api_base": emulator.base_url,
            "api_key": UPSTREAM_KEY,
        },
        "model_info": info,
    }


def _chat(proxy: RunningProxy, key: str, model: str) -> str:
    answer = sdk(proxy, key).chat.completions.create(model=model, messages=MESSAGES)
    return answer.model


def test_model_info_shows_a_key_only_its_models_and_never_a_credential(
    proxy: RunningProxy,
) -> None:
    admin = Management(proxy)
    everything = admin.get("/model/info")
    assert everything.status == 200
    names = [entry["model_name"] for entry in everything.body["data"]]
    assert ALIAS in names and OTHER_ALIAS in names
    first = everything.body["data"][0]
    assert first["litellm_params"]["api_base"]  # the master key sees the upstream address
    assert "api_key" not in first["litellm_params"]
    assert UPSTREAM_KEY not in str(everything.body)
    assert {"id", "mode", "max_input_tokens", "input_cost_per_token", "db_model"} <= set(
        first["model_info"]
    )
    key = admin.new_key(models=[ALIAS])["key"]
    mine = Management(proxy, key).get("/v1/model/info")
    assert [e["model_name"] for e in mine.body["data"]] == [ALIAS]
    assert "api_base" not in mine.body["data"][0]["litellm_params"]
    model_id = mine.body["data"][0]["model_info"]["id"]
    one = Management(proxy, key).get("/model/info", litellm_model_id=model_id)
    assert one.body["data"] == mine.body["data"]
    by_name = Management(proxy, key).get("/v2/model/info", model=ALIAS, debug="True")
    assert by_name.body["data"] == mine.body["data"]
    assert Management(proxy, key).get("/model/info", nonsense=1).status == 400
    assert Management(proxy, "sk-not-a-key").get("/model/info").status == 401


def test_model_group_info_lists_each_usable_name_once(proxy: RunningProxy) -> None:
    admin = Management(proxy)
    groups = admin.get("/model_group/info").body["data"]
    assert {g["model_group"] for g in groups} >= {ALIAS, OTHER_ALIAS}
    group = next(g for g in groups if g["model_group"] == ALIAS)
    assert group["providers"] == ["inference"] and group["mode"] == "chat"
    assert "temperature" in group["supported_openai_params"]
    key = admin.new_key(models=[OTHER_ALIAS])["key"]
    mine = Management(proxy, key).get("/model_group/info").body["data"]
    assert [g["model_group"] for g in mine] == [OTHER_ALIAS]


def test_a_model_added_is_served_at_once_and_gone_once_deleted(
    proxy: RunningProxy, emulator: Emulator, database_url: str
) -> None:
    admin = Management(proxy)
    added = admin.post("/model/new", {**_new_model(emulator), "model_info": {"id": "db-1"}})
    assert added.status == 200, added.body
    assert added.body["model_id"] == "db-1" and "api_key" not in added.body["litellm_params"]
    assert UPSTREAM_KEY not in str(added.body)
    key = admin.new_key()["key"]
    assert _chat(proxy, key, "added") == "added"
    info = admin.get("/model/info", litellm_model_id="db-1").body["data"]
    assert info[0]["model_info"]["db_model"] is True
    assert UPSTREAM_KEY not in str(info)
    assert (
        admin.post("/model/new", {**_new_model(emulator), "model_info": {"id": "db-1"}}).status
        == 409
    )
    deleted = admin.post("/model/delete", {"id": "db-1"})
    assert deleted.status == 200 and "db-1" in deleted.body["message"]
    with pytest.raises(openai.NotFoundError):
        _chat(proxy, key, "added")
    assert admin.post("/model/delete", {"id": "db-1"}).status == 404


def test_the_stored_row_holds_no_key_in_clear(
    proxy: RunningProxy, emulator: Emulator, database_url: str
) -> None:
    admin = Management(proxy)
    assert (
        admin.post("/model/new", {**_new_model(emulator), "model_info": {"id": "s"}}).status == 200
    )
    if database_url.startswith("sqlite:///"):
        with sqlite3.connect(database_url.removeprefix("sqlite:///")) as db:
            rows = db.execute("SELECT * FROM proxy_models").fetchall()
        assert len(rows) == 1 and UPSTREAM_KEY not in repr(rows)
        assert any(str(value).startswith("aesgcm1:") for value in rows[0])


async def test_a_stored_row_reads_back_sealed(emulator: Emulator, database_url: str) -> None:
    with keyed_proxy(emulator, database_url, store_model_in_db=True) as running:
        body = {**_new_model(emulator), "model_info": {"id": "sealed"}}
        assert Management(running).post("/model/new", body).status == 200
    store = open_store(database_url)
    await store.open()
    try:
        row = await store.get_model("sealed")
    finally:
        await store.close()
    assert row is not None and "api_key" not in row.litellm_params
    assert row.api_key_sealed is not None and UPSTREAM_KEY not in row.api_key_sealed


def test_update_changes_the_model_and_keeps_its_key(
    proxy: RunningProxy, emulator: Emulator
) -> None:
    admin = Management(proxy)
    assert (
        admin.post("/model/new", {**_new_model(emulator), "model_info": {"id": "u"}}).status == 200
    )
    update = {"model_name": "renamed", "litellm_params": {"rpm": 7}, "model_info": {"id": "u"}}
    changed = admin.post("/model/update", update)
    assert changed.status == 200, changed.body
    assert changed.body["model_name"] == "renamed"
    assert changed.body["litellm_params"]["rpm"] == 7
    key = admin.new_key()["key"]
    assert _chat(proxy, key, "renamed") == "renamed"  # the sealed key still opens
    with pytest.raises(openai.NotFoundError):
        _chat(proxy, key, "added")
    wrong = admin.post("/model/update", {"litellm_params": "x", "model_info": {"id": "u"}})
    assert wrong.status == 400 and wrong.error["param"] == "litellm_params"
    missing = admin.post("/model/update", {"model_info": {"id": "nope"}})
    assert missing.status == 404
    elsewhere = {"litellm_params": {"api_base": "http://127.0.0.1:1/v1"}, "model_info": {"id": "u"}}
    moved = admin.post("/model/update", elsewhere)  # the stored key must not follow
    assert moved.status == 400 and moved.error["param"] == "api_key"
    with_key = {**elsewhere, "litellm_params": {**elsewhere["litellm_params"], "api_key": "k2"}}
    assert admin.post("/model/update", with_key).status == 200


def test_a_model_added_under_a_config_name_joins_that_group(
    proxy: RunningProxy, emulator: Emulator
) -> None:
    admin = Management(proxy)
    body = {**_new_model(emulator, ALIAS), "model_info": {"id": "joined"}}
    assert admin.post("/model/new", body).status == 200
    deployments = proxy.app.router.deployments(ALIAS)
    assert [d.deployment_id for d in deployments][-1] == "joined" and len(deployments) == 2
    ids = {e["model_info"]["id"] for e in admin.get("/model/info", model=ALIAS).body["data"]}
    assert "joined" in ids and len(ids) == 2


def test_config_models_and_bad_models_are_refused_clearly(
    proxy: RunningProxy, emulator: Emulator
) -> None:
    admin = Management(proxy)
    config_id = admin.get("/model/info", model=ALIAS).body["data"][0]["model_info"]["id"]
    refused = admin.post("/model/delete", {"id": config_id})
    assert refused.status == 400 and refused.error["code"] == "config_model"
    clash = {**_new_model(emulator), "model_info": {"id": config_id}}
    assert admin.post("/model/new", clash).status == 400
    unknown = admin.post("/model/new", {"model_name": "x", "litellm_params": {"model": "zz/y"}})
    assert unknown.status == 400 and "zz" in unknown.error["message"]
    no_name = admin.post("/model/new", {"litellm_params": {"model": UPSTREAM}})
    assert no_name.status == 400 and no_name.error["param"] == "model_name"


def test_the_admin_ui_shows_a_model_added_and_deleted_at_once(
    proxy: RunningProxy, emulator: Emulator
) -> None:
    client, _ = logged_in(proxy.url)

    def aliases() -> set[str]:
        return {m["alias"] for m in client.get("/ui/api/models").json()["models"]}

    try:
        assert "added" not in aliases()
        made = Management(proxy).post("/model/new", _new_model(emulator))
        assert made.status == 200 and "added" in aliases()
        gone = Management(proxy).post("/model/delete", {"id": made.body["model_id"]})
        assert gone.status == 200 and "added" not in aliases()
    finally:
        client.close()


def test_only_the_master_key_manages_models(proxy: RunningProxy, emulator: Emulator) -> None:
    key = Management(proxy).new_key()["key"]
    refused = Management(proxy, key).post("/model/new", _new_model(emulator))
    assert refused.status == 403


def test_without_store_model_in_db_models_are_not_stored(
    emulator: Emulator, database_url: str
) -> None:
    with keyed_proxy(emulator, database_url) as running:
        refused = Management(running).post("/model/new", _new_model(emulator))
    assert refused.status == 400 and "store_model_in_db" in refused.error["message"]


def test_another_instance_serves_the_model_within_the_poll(
    emulator: Emulator, database_url: str
) -> None:
    with (
        keyed_proxy(emulator, database_url, store_model_in_db=True) as one,
        keyed_proxy(emulator, database_url, store_model_in_db=True) as two,
    ):
        body = {**_new_model(emulator, "shared"), "model_info": {"id": "shared-1"}}
        assert Management(one).post("/model/new", body).status == 200
        reader = Management(two)

        def served() -> bool | None:
            data = reader.get("/model/info", model="shared").body["data"]
            return True if data else None

        wait_for(served, timeout=12.0)
        assert _chat(two, MASTER_KEY, "shared") == "shared"
        assert Management(one).post("/model/delete", {"id": "shared-1"}).status == 200

        def gone() -> bool | None:
            return True if not reader.get("/model/info", model="shared").body["data"] else None

        wait_for(gone, timeout=12.0)


def test_a_restarted_proxy_serves_the_stored_models_from_its_start(
    emulator: Emulator, database_url: str
) -> None:
    with keyed_proxy(emulator, database_url, store_model_in_db=True) as first:
        body = {**_new_model(emulator, "kept"), "model_info": {"id": "kept-1"}}
        assert Management(first).post("/model/new", body).status == 200
    with keyed_proxy(emulator, database_url, store_model_in_db=True) as second:
        assert _chat(second, MASTER_KEY, "kept") == "kept"  # no wait: read at start


def test_access_groups_of_stored_models_are_served_and_listed(
    proxy: RunningProxy, emulator: Emulator
) -> None:
    admin = Management(proxy)
    assert admin.get("/models", only_model_access_groups="true").body["data"] == []
    body = {**_new_model(emulator, "grouped"), "model_info": {"id": "g", "access_groups": ["grp"]}}
    assert admin.post("/model/new", body).status == 200
    listed = admin.get("/models", only_model_access_groups="true").body["data"]
    assert [entry["id"] for entry in listed] == ["grp"]
    key = admin.new_key(models=["grp"])["key"]
    assert _chat(proxy, key, "grouped") == "grouped"  # the group allows its model
    with pytest.raises(openai.AuthenticationError):
        _chat(proxy, key, ALIAS)


@pytest.mark.parametrize(
    "body",
    [
        [],
        {"model_name": 1, "litellm_params": {"model": UPSTREAM}},
        {"model_name": "x", "litellm_params": {"model": 5}},
        {"model_name": "x", "litellm_params": {"model": UPSTREAM, "api_base": 3}},
        {"model_name": "x", "litellm_params": {"model": UPSTREAM, "rpm": "many"}},
        {"model_name": "x", "litellm_params": {"model": UPSTREAM}, "model_info": {"id": 4}},
        {"model_name": "x", "litellm_params": {"model": UPSTREAM}, "model_info": []},
        {"model_name": "x", "litellm_params": {"model": UPSTREAM, "api_key": ["k"]}},
    ],
)
def test_malformed_models_are_a_400_never_a_5xx(proxy: RunningProxy, body: Any) -> None:
    admin = Management(proxy)
    for path in ("/model/new", "/model/update", "/model/delete"):
        reply = admin.post(path, body)
        assert 400 <= reply.status < 500, (path, reply.body)
        assert set(reply.error) == {"message", "type", "param", "code"}
