"""``mock_response`` / ``mock_tool_calls`` / ``mock_timeout``: answers without the network, in
``completion``, ``acompletion``, streams and the ``Router``."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest

import tokenway
from tokenway import Router, settings
from tokenway.errors import (
    ContextWindowExceededError,
    InternalServerError,
    NotFoundError,
    RateLimitError,
    Timeout,
    UnknownProviderError,
    UnsupportedParamsError,
)

MODEL = "inference/meta-llama/llama-3.1-8b-instruct/fp-16"
MSGS = [{"role": "user", "content": "Say hi"}]
CALL = {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": '{"a": 1}'}}


@pytest.fixture(autouse=True)
def no_network_and_no_keys(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A mock needs no key, and must not connect anywhere."""
    monkeypatch.delenv("INFERENCE_API_KEY", raising=False)
    monkeypatch.delenv("INFERENCE_API_BASE", raising=False)

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("a mocked call touched the network")

    monkeypatch.setattr("socket.create_connection", refuse)
    monkeypatch.setattr("socket.getaddrinfo", refuse)
    settings.reset()
    yield
    settings.reset()


def test_a_string_is_a_normal_answer_with_usage_and_cost() -> None:
    answer = tokenway.completion(MODEL, MSGS, mock_response="hello there")
    assert answer.choices[0].message.content == "hello there"
    assert answer.choices[0].finish_reason == "stop"
    usage = answer.usage
    assert usage is not None and usage.prompt_tokens > 0 and usage.completion_tokens > 0
    assert answer.cost == pytest.approx(usage.total_tokens * 0.03 / 1e6)
    assert answer._hidden_params["custom_llm_provider"] == "inference"
    assert tokenway.completion_cost(answer) == answer.cost


def test_the_call_is_still_checked_before_the_mock() -> None:
    with pytest.raises(UnsupportedParamsError):
        tokenway.completion(MODEL, MSGS, mock_response="x", logit_bias={"1": 1})
    with pytest.raises(UnknownProviderError):
        tokenway.completion("nope/x", MSGS, mock_response="x")
    with pytest.raises(UnsupportedParamsError, match="completion\\(\\) only"):
        tokenway.embedding("inference/qwen/qwen3-embedding-4b", "x", mock_response="x")  # type: ignore[call-arg]


@pytest.mark.parametrize(
    ("reply", "error"),
    [
        (RateLimitError("slow down"), RateLimitError),
        (ValueError("boom"), InternalServerError),
        ("litellm.RateLimitError", RateLimitError),
        ("litellm.ContextWindowExceededError", ContextWindowExceededError),
        ("tokenway.InternalServerError", InternalServerError),
    ],
)
def test_an_exception_is_raised(reply: Any, error: type[Exception]) -> None:
    with pytest.raises(error):
        tokenway.completion(MODEL, MSGS, mock_response=reply, num_retries=0)


def test_an_exception_with_a_status_code_becomes_that_error() -> None:
    class Missing(Exception):
        status_code = 404

    with pytest.raises(NotFoundError, match="gone"):
        tokenway.completion(MODEL, MSGS, mock_response=Missing("gone"))


def test_mock_tool_calls() -> None:
    answer = tokenway.completion(MODEL, MSGS, mock_tool_calls=[CALL])
    message = answer.choices[0].message
    assert answer.choices[0].finish_reason == "tool_calls" and message.content is None
    assert message.tool_calls is not None and message.tool_calls[0].function.name == "f"
    assert json.loads(message.tool_calls[0].function.arguments) == {"a": 1}


def test_mock_timeout_waits_out_the_timeout_and_raises() -> None:
    start = time.monotonic()
    with pytest.raises(Timeout):
        tokenway.completion(MODEL, MSGS, mock_response="x", mock_timeout=True, timeout=0.05)
    assert time.monotonic() - start >= 0.05


def test_a_mocked_stream_streams_word_by_word_with_cost() -> None:
    stream = tokenway.completion(MODEL, MSGS, mock_response="one two three", stream=True)
    chunks = list(stream)
    pieces = [
        c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta.content
    ]
    assert pieces == ["one", " two", " three"]
    assert stream.usage is not None and stream.cost is not None
    assert all(c.usage is None for c in chunks)  # not asked for
    whole = tokenway.stream_chunk_builder(chunks, messages=MSGS)
    assert whole.choices[0].message.content == "one two three"


def test_a_mocked_stream_of_tool_calls_rebuilds() -> None:
    chunks = list(tokenway.completion(MODEL, MSGS, mock_tool_calls=[CALL], stream=True))
    whole = tokenway.stream_chunk_builder(chunks)
    assert whole.choices[0].message.tool_calls[0].function.arguments == '{"a": 1}'  # type: ignore[index]
    assert whole.choices[0].finish_reason == "tool_calls"


async def test_acompletion_and_async_streams() -> None:
    answer = await tokenway.acompletion(MODEL, MSGS, mock_response="async hi")
    assert answer.choices[0].message.content == "async hi"
    stream = await tokenway.acompletion(MODEL, MSGS, mock_response="a b", stream=True)
    text = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
    assert text == "a b" and stream.cost is not None
    with pytest.raises(RateLimitError):
        await tokenway.acompletion(MODEL, MSGS, mock_response="litellm.RateLimitError")
    with pytest.raises(Timeout):
        await tokenway.acompletion(MODEL, MSGS, mock_response="x", mock_timeout=True, timeout=0.01)


def _router() -> Router:
    return Router(
        [
            {"model_name": "main", "litellm_params": {"model": MODEL}, "model_info": {"id": "d1"}},
            {
                "model_name": "backup",
                "litellm_params": {"model": MODEL},
                "model_info": {"id": "d2"},
            },
        ],
        fallbacks=[{"main": ["backup"]}],
        num_retries=0,
    )


def test_router_mock_answers_and_names_its_deployment() -> None:
    router = _router()
    answer = router.completion("main", MSGS, mock_response="routed")
    assert answer.choices[0].message.content == "routed"
    assert answer._hidden_params["model_id"] == "d1"
    stream = router.completion("main", MSGS, mock_response="s", stream=True)
    assert [c.choices[0].delta.content for c in stream if c.choices][1] == "s"
    assert stream._hidden_params["model_id"] == "d1"
    with pytest.raises(RateLimitError):
        router.completion("main", MSGS, mock_response="litellm.RateLimitError")


async def test_router_async_mock() -> None:
    router = _router()
    answer = await router.acompletion("main", MSGS, mock_response="routed async")
    assert answer.choices[0].message.content == "routed async"
    stream = await router.acompletion("main", MSGS, mock_response="x y", stream=True)
    assert "".join([c.choices[0].delta.content or "" async for c in stream if c.choices]) == "x y"
