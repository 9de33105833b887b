"""``GET /v1/models`` shows a virtual key only the models it may use (issue 12, item 7).

Before, every key saw every served alias, and ``/v1/models/{id}`` answered 200 for a
model the key is refused on chat. The rule is the gate's: the key's ``models`` capped by
its team's (``KeyContext.models``). A model outside it is 404 ``model_not_found``, what
OpenAI answers for a model a key has no access to (the SDK's ``NotFoundError``).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import openai
import pytest
from tests.proxy.conftest import BRIEF_MODELS, MASTER_KEY, RunningProxy
from tests.proxy.virtual_key_helpers import ALIAS, OTHER_ALIAS, Management, keyed_proxy, sdk
from tests.security.wire import send_json

from tokenway.emulator import Emulator

THIRD_ALIAS = "mistral-nemo-12b-instruct"


@pytest.fixture
def keyed(emulator: Emulator, tmp_path: Path) -> Iterator[RunningProxy]:
    with keyed_proxy(emulator, f"sqlite:///{tmp_path / 'keys.db'}") as proxy:
        yield proxy


def _listed(proxy: RunningProxy, key: str) -> list[str]:
    return [model.id for model in sdk(proxy, key).models.list()]


def test_a_key_lists_only_its_models_and_the_master_key_all(keyed: RunningProxy) -> None:
    admin = Management(keyed)
    limited = admin.new_key(models=[OTHER_ALIAS])["key"]
    free = admin.new_key()["key"]
    assert _listed(keyed, limited) == [OTHER_ALIAS]
    assert _listed(keyed, free) == list(BRIEF_MODELS)
    assert _listed(keyed, MASTER_KEY) == list(BRIEF_MODELS)
    raw = send_json(keyed.port, "GET", "/models", b"", auth=f"Authorization: Bearer {limited}\r\n")
    assert [entry["id"] for entry in raw.json()["data"]] == [OTHER_ALIAS]


def test_a_team_caps_what_its_keys_list(keyed: RunningProxy) -> None:
    admin = Management(keyed)
    team = admin.post("/team/new", {"team_alias": "ml", "models": [ALIAS, OTHER_ALIAS]})
    assert team.status == 200, team.body
    team_id = team.body["team_id"]
    in_team = admin.new_key(team_id=team_id)["key"]
    narrowed = admin.new_key(team_id=team_id, models=[OTHER_ALIAS, THIRD_ALIAS])["key"]
    assert _listed(keyed, in_team) == [ALIAS, OTHER_ALIAS]
    assert _listed(keyed, narrowed) == [OTHER_ALIAS]


def test_retrieving_a_model_the_key_may_not_use_is_404(keyed: RunningProxy) -> None:
    limited = Management(keyed).new_key(models=[OTHER_ALIAS])["key"]
    client = sdk(keyed, limited)
    assert client.models.retrieve(OTHER_ALIAS).id == OTHER_ALIAS
    with pytest.raises(openai.NotFoundError) as refused:
        client.models.retrieve(ALIAS)
    error = refused.value.body
    assert isinstance(error, dict) and error["code"] == "model_not_found"
    assert ALIAS in error["message"] and THIRD_ALIAS not in error["message"]
    # and chat agrees: the same key is refused the same model
    with pytest.raises(openai.AuthenticationError):
        client.chat.completions.create(model=ALIAS, messages=[{"role": "user", "content": "x"}])
    assert sdk(keyed, MASTER_KEY).models.retrieve(ALIAS).id == ALIAS
