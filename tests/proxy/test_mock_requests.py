"""``mock_response`` & co on the proxy: answered without the upstream, routed and accounted."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.proxy.conftest import MASTER_KEY, RunningProxy
from tests.proxy.endpoint_helpers import endpoints_proxy
from tests.proxy.routing_helpers import request
from tests.proxy.virtual_key_helpers import Management, flushed_rows, sdk

from tokenway.emulator import Emulator

pytestmark = pytest.mark.usefixtures("clean_emulator")
MSGS = [{"role": "user", "content": "hi"}]


@pytest.fixture(scope="module")
def proxy(emulator: Emulator, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningProxy]:
    db = tmp_path_factory.mktemp("mock") / "tokenway.db"
    with endpoints_proxy(emulator, f"sqlite:///{db}") as running:
        yield running


def test_a_mock_answer_never_reaches_the_upstream_and_is_accounted(
    proxy: RunningProxy, emulator: Emulator
) -> None:
    admin = Management(proxy)
    key = admin.new_key(models=["chat"])["key"]
    before = emulator.requests_total
    answer = sdk(proxy, key).chat.completions.create(
        model="chat", messages=MSGS, extra_body={"mock_response": "hello there"}
    )
    assert emulator.requests_total == before
    assert answer.model == "chat" and answer.choices[0].message.content == "hello there"
    assert answer.usage is not None and answer.usage.completion_tokens > 0
    (row,) = flushed_rows(admin, 1, api_key=key)
    assert row["http_status"] == 200 and row["completion_tokens"] == answer.usage.completion_tokens
    assert row["spend"] > 0


def test_a_mock_stream_is_relayed_as_a_real_one(proxy: RunningProxy) -> None:
    stream = sdk(proxy, MASTER_KEY).chat.completions.create(
        model="chat",
        messages=MSGS,
        stream=True,
        stream_options={"include_usage": True},
        extra_body={"mock_response": "one two three"},
    )
    chunks = list(stream)
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == (
        "one two three"
    )
    assert all(c.model == "chat" for c in chunks)
    assert chunks[-1].usage is not None


def test_mock_tool_calls_finish_with_tool_calls(proxy: RunningProxy) -> None:
    call = {"function": {"name": "get_weather", "arguments": '{"city": "Oslo"}'}}
    status, _, body = request(
        proxy,
        "POST",
        "/v1/chat/completions",
        {"model": "chat", "messages": MSGS, "mock_tool_calls": [call]},
    )
    assert status == 200, body
    choice = body["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    assert choice["message"]["tool_calls"][0]["function"]["name"] == "get_weather"


def test_a_named_error_and_a_timeout_are_answered_as_the_real_ones(proxy: RunningProxy) -> None:
    chat = {"model": "chat", "messages": MSGS}
    status, _, body = request(
        proxy, "POST", "/v1/chat/completions", {**chat, "mock_response": "litellm.RateLimitError"}
    )
    assert status == 429 and body["error"]["type"] == "rate_limit_error"
    started = time.monotonic()
    status, _, body = request(
        proxy, "POST", "/v1/chat/completions", {**chat, "mock_timeout": True, "timeout": 0.2}
    )
    assert status == 504 and "timed out" in body["error"]["message"]
    assert time.monotonic() - started < 5


def test_mocks_are_refused_where_they_cannot_be_honoured(proxy: RunningProxy) -> None:
    cases = [
        ("/v1/embeddings", {"model": "embed", "input": "x", "mock_response": "v"}, "mock_response"),
        ("/v1/chat/completions", {"model": "chat", "messages": MSGS, "mock_response": 3},
         "mock_response"),
        ("/v1/chat/completions", {"model": "chat", "messages": MSGS, "mock_tool_calls": "x"},
         "mock_tool_calls"),
        ("/v1/chat/completions", {"model": "chat", "messages": MSGS, "mock_timeout": True,
                                  "timeout": -1}, "timeout"),
    ]  # fmt: skip
    for path, body, param in cases:
        status, _, answer = request(proxy, "POST", path, body)
        assert status == 400, body
        assert answer["error"]["param"] == param


def test_mock_testing_fallbacks_goes_to_the_fallbacks_without_calling_the_model(
    proxy: RunningProxy, emulator: Emulator
) -> None:
    body = {"model": "chat", "messages": MSGS, "mock_testing_fallbacks": True}
    before = emulator.requests_total
    status, headers, answer = request(
        proxy, "POST", "/v1/chat/completions", {**body, "fallbacks": ["text"]}
    )
    assert status == 200, answer
    assert answer["choices"][0]["message"]["content"]  # the fallback's real answer
    assert emulator.requests_total == before + 1
    assert headers["x-tokenway-model-group"] == "text"
    assert headers["x-tokenway-attempted-fallbacks"] == "1"
    status, _, answer = request(proxy, "POST", "/v1/chat/completions", body)  # none configured
    assert status == 500 and answer["error"]["code"] == "mock_failure"
    assert "no fallbacks" in answer["error"]["message"]


def test_mock_testing_rate_limit_error_is_retried_and_cools_nothing_down(
    emulator: Emulator, tmp_path: Path
) -> None:
    with endpoints_proxy(emulator, f"sqlite:///{tmp_path / 't.db'}", {"num_retries": 1}) as proxy:
        body = {"model": "chat", "messages": MSGS, "mock_testing_rate_limit_error": True}
        status, headers, answer = request(proxy, "POST", "/v1/chat/completions", body)
        assert status == 200, answer
        assert headers["x-tokenway-attempted-retries"] == "1"
        (stats,) = proxy.app.router.stats("chat")
        assert stats.cooldown_until <= time.monotonic()  # a test's 429 is not the deployment's
        status, _, answer = request(
            proxy, "POST", "/v1/chat/completions", {**body, "mock_testing_rate_limit_error": 1}
        )
        assert status == 400 and answer["error"]["param"] == "mock_testing_rate_limit_error"
