"""Team models end to end, on SQLite and PostgreSQL: a team admin's key adds, updates
and deletes models of its own team (nobody else but the master key may), and a team model
is served to that team's keys only, under the name its admin gave."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest
from tests.proxy.conftest import MASTER_KEY, UPSTREAM_KEY, RunningProxy
from tests.proxy.virtual_key_helpers import (
    ALIAS,
    MESSAGES,
    STORES,
    Management,
    keyed_proxy,
    sdk,
    store_url,
)

from tokenway.emulator import Emulator

pytestmark = pytest.mark.usefixtures("clean_emulator")

UPSTREAM = "inference/meta-llama/llama-3.1-8b-instruct/fp-16"


@pytest.fixture(params=STORES)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return store_url(request, tmp_path)


@pytest.fixture
def proxy(emulator: Emulator, database_url: str) -> Iterator[RunningProxy]:
    with keyed_proxy(emulator, database_url, store_model_in_db=True) as running:
        yield running


def _model(emulator: Emulator, name: str, **info: Any) -> dict[str, Any]:
    params = {"model": UPSTREAM, "api_base": emulator.base_url, "api_key": UPSTREAM_KEY}
    return {"model_name": name, "litellm_params": params, "model_info": info}


def _team_with_admin(proxy: RunningProxy, team_id: str, user_id: str) -> Management:
    """A team whose admin is a new internal user; that user's own key (no team)."""
    admin = Management(proxy)
    user = admin.post("/user/new", {"user_id": user_id})
    assert user.status == 200, user.body
    members = [{"role": "admin", "user_id": user_id}]
    made = admin.post("/team/new", {"team_id": team_id, "members_with_roles": members})
    assert made.status == 200, made.body
    return Management(proxy, user.body["key"])


def _served_id(proxy: RunningProxy, key: str, model: str) -> str:
    raw = sdk(proxy, key).chat.completions.with_raw_response.create(
        model=model, messages=MESSAGES, max_tokens=4
    )
    return raw.headers["x-litellm-model-id"]


def test_a_team_admin_adds_updates_and_deletes_its_teams_model(
    proxy: RunningProxy, emulator: Emulator
) -> None:
    ann = _team_with_admin(proxy, "red", "ann")
    added = ann.post("/model/new", _model(emulator, "mine", id="m-red", team_id="red"))
    assert added.status == 200, added.body
    unique = added.body["model_name"]
    assert unique.startswith("model_name_red_") and added.body["model_id"] == "m-red"
    assert added.body["model_info"]["team_public_model_name"] == "mine"
    red_key = Management(proxy).new_key(team_id="red")["key"]
    assert _served_id(proxy, red_key, "mine") == "m-red"

    updated = ann.post(
        "/model/update", {"model_name": "ours", "model_info": {"id": "m-red", "rpm": 5}}
    )
    assert updated.status == 200, updated.body
    assert updated.body["model_name"] == unique  # the unique name stays
    assert updated.body["model_info"]["team_public_model_name"] == "ours"
    assert updated.body["model_info"]["team_id"] == "red"
    Management(proxy).post("/key/update", {"key": red_key})  # read again now, not in 2 s
    assert _served_id(proxy, red_key, "ours") == "m-red"

    deleted = ann.post("/model/delete", {"id": "m-red"})
    assert deleted.status == 200, deleted.body
    with pytest.raises(openai.NotFoundError):
        _served_id(proxy, red_key, "ours")


def test_a_team_model_is_served_to_its_team_only(proxy: RunningProxy, emulator: Emulator) -> None:
    ann = _team_with_admin(proxy, "red", "ann")
    bob = _team_with_admin(proxy, "blue", "bob")
    unique = ann.post("/model/new", _model(emulator, "mine", id="m-red", team_id="red"))
    theirs = bob.post("/model/new", _model(emulator, "mine", id="m-blue", team_id="blue"))
    assert unique.status == theirs.status == 200  # the same name, each team its own
    admin = Management(proxy)
    red_key = admin.new_key(team_id="red")["key"]
    blue_key = admin.new_key(team_id="blue")["key"]
    assert _served_id(proxy, red_key, "mine") == "m-red"
    assert _served_id(proxy, blue_key, "mine") == "m-blue"
    assert _served_id(proxy, red_key, ALIAS)  # the config's models as before

    no_team = admin.new_key()["key"]
    for key in (no_team, MASTER_KEY):  # by the given name: not a model outside the team
        with pytest.raises(openai.NotFoundError):
            _served_id(proxy, key, "mine")
    for key in (no_team, blue_key):  # by its unique name: not this key's to use
        with pytest.raises(openai.AuthenticationError) as refused:  # LiteLLM's 401
            _served_id(proxy, key, unique.body["model_name"])
        assert refused.value.code == "model_not_allowed"
        assert "model_name_blue" not in refused.value.message  # other teams' names unsaid
    assert _served_id(proxy, MASTER_KEY, unique.body["model_name"]) == "m-red"  # as LiteLLM

    listed = {
        e["model_info"]["id"] for e in Management(proxy, blue_key).get("/model/info").body["data"]
    }
    assert "m-blue" in listed and "m-red" not in listed
    restricted = admin.new_key(team_id="red", models=[ALIAS])["key"]  # its own list holds
    with pytest.raises(openai.AuthenticationError):
        _served_id(proxy, restricted, "mine")


def test_only_a_team_admin_of_that_team_changes_its_models(
    proxy: RunningProxy, emulator: Emulator
) -> None:
    ann = _team_with_admin(proxy, "red", "ann")
    bob = _team_with_admin(proxy, "blue", "bob")
    admin = Management(proxy)
    admin.post("/team/member_add", {"team_id": "red", "member": {"role": "user", "user_id": "bob"}})
    red_model = _model(emulator, "mine", id="m-red", team_id="red")
    for body in (red_model, _model(emulator, "global", id="m-all")):  # not bob's team; no team
        refused = bob.post("/model/new", body)
        assert refused.status == 403, refused.body
    assert ann.post("/model/new", red_model).status == 200
    assert admin.post("/model/new", _model(emulator, "global", id="m-all")).status == 200
    for path, body in (
        ("/model/update", {"model_info": {"id": "m-red", "rpm": 1}}),  # a member, not admin
        ("/model/delete", {"id": "m-red"}),
    ):
        assert bob.post(path, body).status == 403
    for path, body in (
        ("/model/update", {"model_info": {"id": "m-red", "team_id": "blue"}}),  # to bob's team
        ("/model/update", {"model_info": {"id": "m-red", "team_id": None}}),  # to everyone
        ("/model/update", {"model_info": {"id": "m-all", "rpm": 1}}),  # a global model
        ("/model/delete", {"id": "m-all"}),
        ("/model/delete", {"id": "no-such-model"}),
    ):
        refused = ann.post(path, body)
        assert refused.status == 403, (path, body, refused.body)
        assert refused.error["code"] in ("not_allowed", "master_key_required")
    missing = admin.post("/model/new", _model(emulator, "x", team_id="no-such-team"))
    assert missing.status == 400 and missing.error["code"] == "unknown_team"
