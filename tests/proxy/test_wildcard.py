"""Wildcard deployments through the real proxy: ``model_name: "*"`` and ``"inference/*"``
serve the models no alias names, with the requested name in the upstream model id."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from openai import OpenAI
from tests.proxy.conftest import MASTER_KEY, UPSTREAM_KEY, RunningProxy, running_proxy
from tests.proxy.routing_helpers import post_chat, request
from tests.proxy.virtual_key_helpers import Management, flushed_rows

from tokenway.catalog import Catalog, cost_of
from tokenway.emulator import Emulator
from tokenway.proxy.config import ProxyConfig, parse_config

LLAMA_3B = "meta-llama/llama-3.2-3b-instruct/fp-16"
NEMO = "mistralai/mistral-nemo-12b-instruct/fp-8"


def entry(name: str, model: str, emulator: Emulator, deployment_id: str) -> dict[str, Any]:
    params = {"model": model, "api_base": emulator.base_url, "api_key": UPSTREAM_KEY}
    return {"model_name": name, "litellm_params": params, "model_info": {"id": deployment_id}}


def wildcard_config(emulator: Emulator, **general: Any) -> ProxyConfig:
    settings: dict[str, Any] = {"master_key": MASTER_KEY, **general}
    return parse_config(
        {
            "model_list": [
                entry("*", "inference/*", emulator, "star"),  # first: order must not matter
                entry(
                    "llama", "inference/meta-llama/llama-3.1-8b-instruct/fp-16", emulator, "exact"
                ),
                entry("inference/*", "inference/*", emulator, "prefixed"),
            ],
            "general_settings": settings,
        },
        env={},
    )


@pytest.fixture(scope="module")
def proxy(emulator: Emulator) -> Iterator[RunningProxy]:
    with running_proxy(wildcard_config(emulator)) as running:
        yield running


def test_star_serves_any_model_no_alias_names(proxy: RunningProxy) -> None:
    status, headers, body = post_chat(proxy, LLAMA_3B, max_tokens=5)
    assert status == 200, body
    assert headers["x-tokenway-deployment"] == "star"
    assert headers["x-tokenway-upstream-model"] == f"inference/{LLAMA_3B}"  # '*' replaced
    assert body["model"] == LLAMA_3B  # the client's name, as for an alias
    assert float(headers["x-tokenway-response-cost"]) > 0  # the concrete model's price


def test_an_alias_wins_over_patterns_and_a_longer_pattern_over_star(
    proxy: RunningProxy,
) -> None:
    _, headers, _ = post_chat(proxy, "llama", max_tokens=5)
    assert headers["x-tokenway-deployment"] == "exact"
    status, headers, body = post_chat(proxy, f"inference/{NEMO}", max_tokens=5)
    assert status == 200, body
    assert headers["x-tokenway-deployment"] == "prefixed"
    assert headers["x-tokenway-upstream-model"] == f"inference/{NEMO}"  # what '*' matched
    assert body["model"] == f"inference/{NEMO}"


def test_a_wildcard_stream_carries_the_requested_name(proxy: RunningProxy) -> None:
    client = OpenAI(api_key=MASTER_KEY, base_url=f"{proxy.url}/v1", max_retries=0)
    chunks = list(
        client.chat.completions.create(
            model=NEMO,
            messages=[{"role": "user", "content": "hi"}],
            max_tokens=8,
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    assert {chunk.model for chunk in chunks} == {NEMO}
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens > 0


def test_a_model_the_upstream_lacks_is_its_404_and_models_lists_aliases(
    proxy: RunningProxy,
) -> None:
    status, headers, body = post_chat(proxy, "no-such-model")
    assert status == 404 and body["error"]["code"] == "model_not_found"
    assert headers["x-tokenway-deployment"] == "star"  # asked upstream, which said no
    status, _, listed = request(proxy, "GET", "/v1/models")
    assert status == 200 and [m["id"] for m in listed["data"]] == ["llama"]


def test_a_wildcard_call_is_a_keyed_call_with_its_own_spend_row(
    emulator: Emulator, tmp_path: Path
) -> None:
    config = wildcard_config(
        emulator, database_url=f"sqlite:///{tmp_path / 'tw.db'}", proxy_batch_write_at=0.2
    )
    with running_proxy(config) as keyed:
        admin = Management(keyed)
        limited = admin.new_key(models=["llama"])
        status, _, body = post_chat(keyed, LLAMA_3B, key=limited["key"])
        assert status == 401 and body["error"]["code"] == "model_not_allowed"
        prefixed = admin.new_key(models=["inference/*", LLAMA_3B])
        status, headers, body = post_chat(keyed, f"inference/{NEMO}", key=prefixed["key"])
        assert status == 200 and headers["x-tokenway-deployment"] == "prefixed", body
        assert post_chat(keyed, LLAMA_3B, key=prefixed["key"])[0] == 200  # named as it is
        status, _, body = post_chat(keyed, NEMO, key=prefixed["key"])  # '*' serves it, but
        assert status == 401 and body["error"]["code"] == "model_not_allowed"  # not for this key
        status, _, body = post_chat(keyed, "llama", key=prefixed["key"], fallbacks=[NEMO])
        assert status == 403 and body["error"]["param"] == "fallbacks"
        key = admin.new_key(max_budget=1.0)
        status, _, body = post_chat(keyed, LLAMA_3B, key=key["key"], max_tokens=5)
        assert status == 200, body
        (row,) = flushed_rows(admin, 1, api_key=key["token"])
    assert row["model"] == LLAMA_3B
    usage = body["usage"]
    cost = cost_of(
        Catalog().get(f"inference/{LLAMA_3B}"), usage["prompt_tokens"], usage["completion_tokens"]
    )
    assert cost is not None and cost > 0 and row["spend"] == pytest.approx(cost)
