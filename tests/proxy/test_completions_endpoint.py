"""``POST /v1/completions`` (the legacy text API) through the pipeline, streamed or not."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import openai
import pytest
from tests.proxy.conftest import MASTER_KEY, RunningProxy
from tests.proxy.endpoint_helpers import endpoints_proxy
from tests.proxy.routing_helpers import request
from tests.proxy.virtual_key_helpers import Management, async_sdk, catalog_cost, flushed_rows, sdk

from tokenway.emulator import Emulator, FaultConfig

pytestmark = pytest.mark.usefixtures("clean_emulator")


@pytest.fixture(scope="module")
def proxy(emulator: Emulator, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningProxy]:
    db = tmp_path_factory.mktemp("text") / "tokenway.db"
    with endpoints_proxy(emulator, f"sqlite:///{db}") as running:
        yield running


def test_a_plain_completion_through_the_openai_sdk(proxy: RunningProxy) -> None:
    answer = sdk(proxy, MASTER_KEY).completions.create(
        model="text", prompt="Once upon a time", max_tokens=20
    )
    assert answer.model == "text" and answer.object == "text_completion"
    assert answer.choices[0].text
    assert answer.usage is not None and 0 < answer.usage.completion_tokens <= 20


def test_a_list_of_prompts_gets_a_choice_each(proxy: RunningProxy) -> None:
    status, _, body = request(
        proxy, "POST", "/completions", {"model": "text", "prompt": ["a", "b"], "max_tokens": 5}
    )
    assert status == 200, body
    assert sorted(c["index"] for c in body["choices"]) == [0, 1]


def test_a_stream_is_relayed_with_the_alias_and_usage_when_asked(proxy: RunningProxy) -> None:
    async def run() -> list[openai.types.Completion]:
        client = async_sdk(proxy, MASTER_KEY)
        stream = await client.completions.create(
            model="text",
            prompt="Tell me a story",
            max_tokens=30,
            stream=True,
            stream_options={"include_usage": True},
        )
        chunks = [chunk async for chunk in stream]
        await client.close()
        return chunks

    chunks = asyncio.run(run())
    assert all(c.model == "text" for c in chunks)
    text = "".join(c.choices[0].text for c in chunks if c.choices)
    assert text
    usage = [c.usage for c in chunks if c.usage is not None]
    assert len(usage) == 1 and usage[0].completion_tokens > 0


def test_stream_rows_are_charged_the_upstream_usage(proxy: RunningProxy) -> None:
    admin = Management(proxy)
    key = admin.new_key(models=["text"])["key"]
    stream = sdk(proxy, key).completions.create(
        model="text", prompt="Count to ten", max_tokens=25, stream=True
    )
    chunks = list(stream)
    assert all(c.usage is None for c in chunks)  # not asked for, so not shown
    (row,) = flushed_rows(admin, 1, api_key=key)
    assert row["model"] == "text" and row["usage_estimated"] is False
    assert row["completion_tokens"] > 0
    expected = catalog_cost("llama-3.1-8b-instruct", row["prompt_tokens"], row["completion_tokens"])
    assert row["spend"] == pytest.approx(expected)


def test_a_failure_mid_stream_ends_with_an_error_frame(
    proxy: RunningProxy, clean_emulator: Emulator
) -> None:
    clean_emulator.faults = FaultConfig(stream_error_after=2)
    stream = sdk(proxy, MASTER_KEY).completions.create(
        model="text", prompt="go", max_tokens=50, stream=True
    )
    with pytest.raises(openai.APIError):
        list(stream)


def test_bad_prompts_and_chat_fields_are_400s(proxy: RunningProxy) -> None:
    for body, param in (
        ({"model": "text"}, "prompt"),
        ({"model": "text", "prompt": [1, "a"]}, "prompt[0]"),
        ({"model": "text", "prompt": "x", "logprobs": 9}, "logprobs"),
        ({"model": "text", "prompt": "x", "tools": []}, "tools"),  # not a completions field
    ):
        status, _, answer = request(proxy, "POST", "/v1/completions", body)
        assert status == 400, body
        assert answer["error"]["param"] == param, answer
