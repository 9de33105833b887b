"""One chat request naming several models (``"model": "a,b"``): a list of answers."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.proxy.conftest import BRIEF_MODELS, MASTER_KEY, RunningProxy, proxy_config, running_proxy
from tests.proxy.virtual_key_helpers import ALIAS, MESSAGES, OTHER_ALIAS, Management, wait_for

from tokenway.emulator import Emulator

COMMA_ALIAS = "llama,comma"


@pytest.fixture
def proxy(emulator: Emulator, tmp_path: Path) -> Iterator[RunningProxy]:
    # with a wildcard deployment, which must not take "a,b" whole
    models = {**BRIEF_MODELS, COMMA_ALIAS: BRIEF_MODELS[ALIAS], "*": BRIEF_MODELS[ALIAS]}
    config = proxy_config(
        emulator.base_url,
        models=models,
        database_url=f"sqlite:///{tmp_path / 'b.db'}",
        proxy_batch_write_at=0.2,
    )
    with running_proxy(config) as running:
        yield running


def _chat(proxy: RunningProxy, key: str, **body: Any) -> tuple[int, Any, dict[str, str]]:
    request = urllib.request.Request(
        f"{proxy.url}/v1/chat/completions",
        data=json.dumps({"messages": MESSAGES, **body}).encode(),
        headers={"authorization": f"Bearer {key}", "content-type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, json.loads(answer.read()), dict(answer.headers)
    except urllib.error.HTTPError as failed:
        return failed.code, json.loads(failed.read()), dict(failed.headers)


def test_each_model_answers_in_the_order_named_with_its_own_spend_row(
    proxy: RunningProxy,
) -> None:
    status, answers, headers = _chat(proxy, MASTER_KEY, model=f"{OTHER_ALIAS}, {ALIAS}")
    assert status == 200 and isinstance(answers, list)
    assert [a["model"] for a in answers] == [OTHER_ALIAS, ALIAS]
    assert all(a["choices"][0]["message"]["content"] for a in answers)
    request_id = headers.get("x-request-id") or headers["X-Request-Id"]
    admin = Management(proxy)

    def rows() -> list[dict[str, Any]] | None:
        found = [admin.spend_logs(request_id=f"{request_id}-{n}") for n in (0, 1)]
        return found if all(found) else None

    found = wait_for(rows)
    assert [r[0]["model"] for r in found] == [OTHER_ALIAS, ALIAS]
    assert admin.spend_logs(request_id=request_id) == []  # no row for the batch itself


def test_a_model_the_key_may_not_use_answers_its_own_error_in_place(
    proxy: RunningProxy,
) -> None:
    key = Management(proxy).new_key(models=[ALIAS])["key"]
    status, answers, _ = _chat(proxy, key, model=f"{ALIAS},{OTHER_ALIAS}")
    assert status == 200
    assert answers[0]["model"] == ALIAS
    assert answers[1]["error"]["code"] == "model_not_allowed"


def test_a_served_alias_with_a_comma_is_one_model_and_streams_are_not_split(
    proxy: RunningProxy,
) -> None:
    status, answer, _ = _chat(proxy, MASTER_KEY, model=COMMA_ALIAS)
    assert status == 200 and answer["model"] == COMMA_ALIAS
    status, refused, _ = _chat(proxy, MASTER_KEY, model=f"{ALIAS},{OTHER_ALIAS}", stream=True)
    assert status == 400 and refused["error"]["param"] == "stream"
    status, refused, _ = _chat(proxy, MASTER_KEY, model=f"{ALIAS},,")
    assert status == 400 and refused["error"]["param"] == "model"
