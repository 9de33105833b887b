"""A team member's budget in that team (``accounting/member_budgets.py``), LiteLLM's
``max_budget_in_team``, and the model rules that LiteLLM's teams and users add to a key
(team and key ``model_aliases``, a user's ``models``): through the real proxy with the
OpenAI SDK, on SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import openai
import pytest
from tests.proxy.conftest import RunningProxy
from tests.proxy.virtual_key_helpers import (
    ALIAS,
    FAST_FLUSH,
    MESSAGES,
    OTHER_ALIAS,
    STORES,
    Management,
    flushed_rows,
    keyed_proxy,
    sdk,
    store_url,
)

from tokenway.emulator import Emulator

pytestmark = pytest.mark.usefixtures("clean_emulator")

TINY_BUDGET = 1e-7  # dollars: under one request's cost, so one request spends it


@pytest.fixture(params=STORES)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return store_url(request, tmp_path)


def _ask(proxy: RunningProxy, secret: str, model: str = ALIAS) -> Any:
    answer = sdk(proxy, secret).chat.completions.create(
        model=model, messages=MESSAGES, max_tokens=4
    )
    assert answer.choices[0].message.content
    return answer


def _ok(reply: Any) -> Any:
    assert reply.status == 200, reply.body
    return reply.body


def test_a_member_budget_caps_that_member_in_that_team_only(
    emulator: Emulator, database_url: str
) -> None:
    with keyed_proxy(emulator, database_url, **FAST_FLUSH) as proxy:
        admin = Management(proxy)
        members = [{"user_id": "ann"}, {"user_id": "bob"}]
        _ok(admin.post("/team/new", {"team_id": "t1", "members_with_roles": members}))
        body = {"team_id": "t1", "user_id": "ann", "max_budget_in_team": TINY_BUDGET}
        _ok(admin.post("/team/member_update", body))
        ann = admin.new_key(user_id="ann", team_id="t1")["key"]
        bob = admin.new_key(user_id="bob", team_id="t1")["key"]
        ann_alone = admin.new_key(user_id="ann")["key"]
        _ask(proxy, ann)  # admitted: nothing spent yet
        with pytest.raises(openai.BadRequestError) as refused:
            _ask(proxy, ann)
        assert refused.value.code == "budget_exceeded"
        assert "Budget has been exceeded!" in refused.value.message
        assert "member 'ann' of team 't1'" in refused.value.message
        _ask(proxy, bob), _ask(proxy, bob)  # another member, no budget of their own
        _ask(proxy, ann_alone), _ask(proxy, ann_alone)  # ann outside the team
        flushed_rows(admin, 1, user_id="ann", team_id="t1")
        # another instance knows only the stored rows
        with keyed_proxy(emulator, database_url) as second, pytest.raises(openai.BadRequestError):
            _ask(second, ann)
        _ok(admin.post("/team/member_update", {**body, "max_budget_in_team": 10.0}))
        _ask(proxy, ann)  # raised: the member's keys are reloaded at once


def test_team_and_key_model_aliases_name_the_model_served(
    emulator: Emulator, database_url: str
) -> None:
    with keyed_proxy(emulator, database_url) as proxy:
        admin = Management(proxy)
        team = {"team_id": "t1", "model_aliases": {"cheap": ALIAS, "other": OTHER_ALIAS}}
        _ok(admin.post("/team/new", team))
        secret = admin.new_key(team_id="t1", models=[ALIAS], aliases={"mine": ALIAS})["key"]
        assert _ask(proxy, secret, model="cheap").model == ALIAS
        assert _ask(proxy, secret, model="mine").model == ALIAS
        with pytest.raises(openai.AuthenticationError) as refused:  # aliased, still checked
            _ask(proxy, secret, model="other")
        assert OTHER_ALIAS in refused.value.message


def test_a_key_without_models_has_its_user_s_and_the_user_caps_the_rest(
    emulator: Emulator, database_url: str
) -> None:
    with keyed_proxy(emulator, database_url) as proxy:
        admin = Management(proxy)
        _ok(admin.post("/user/new", {"user_id": "ann", "models": [ALIAS]}))
        inherits = admin.new_key(user_id="ann")["key"]
        wider = admin.new_key(user_id="ann", models=[ALIAS, OTHER_ALIAS])["key"]
        for secret in (inherits, wider):
            _ask(proxy, secret)
            with pytest.raises(openai.AuthenticationError) as refused:
                _ask(proxy, secret, model=OTHER_ALIAS)
            assert "key not allowed to access model." in refused.value.message
