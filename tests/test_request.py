"""Preparing a call: every mistake found before the network."""

from typing import Any

import orjson
import pytest

from tokenway.catalog import Catalog
from tokenway.errors import (
    AuthenticationError,
    BadRequestError,
    ContextWindowExceededError,
    UnknownProviderError,
    UnsupportedParamsError,
)
from tokenway.request import prepare_call

MODEL = "inference/meta-llama/llama-3.1-8b-instruct/fp-16"
MSGS = [{"role": "user", "content": "What is the capital of France?"}]
ENV = {"INFERENCE_API_KEY": "k-env"}


def prepare(params: dict[str, Any], env: dict[str, str] = ENV, model: str = MODEL) -> Any:
    return prepare_call(model, MSGS, params, catalog=Catalog(), drop_params=False, env=env)


def test_inference_defaults_and_opaque_model_id() -> None:
    call = prepare({})
    assert call.request.url == "https://api.inference.net/v1/chat/completions"
    assert ("authorization", "Bearer k-env") in call.request.headers
    assert orjson.loads(call.request.body)["model"] == "meta-llama/llama-3.1-8b-instruct/fp-16"
    assert call.info is not None and call.info.context_window == 16384


def test_api_base_from_env_and_argument() -> None:
    call = prepare({}, env={**ENV, "INFERENCE_API_BASE": "http://127.0.0.1:9000/v1"})
    assert call.request.url == "http://127.0.0.1:9000/v1/chat/completions"
    call = prepare({"api_base": "http://127.0.0.1:1/v1", "api_key": "k-arg"})
    assert call.request.url.startswith("http://127.0.0.1:1/v1")
    assert ("authorization", "Bearer k-arg") in call.request.headers


def test_missing_key_is_an_authentication_error_naming_the_variable() -> None:
    with pytest.raises(AuthenticationError, match="INFERENCE_API_KEY"):
        prepare({}, env={})


def test_unknown_provider_suggests_the_close_one() -> None:
    with pytest.raises(UnknownProviderError, match="did you mean 'inference'") as info:
        prepare({}, model="infrence/x")
    assert "litellm_proxy" in str(info.value)


def test_generic_row_needs_api_base() -> None:
    with pytest.raises(BadRequestError, match="api_base"):
        prepare({}, model="openai_compatible/some-model")
    call = prepare({"api_base": "http://127.0.0.1:8000/v1"}, model="openai_compatible/a/b")
    assert orjson.loads(call.request.body)["model"] == "a/b"


def test_unsupported_params_raise_unless_dropped() -> None:
    with pytest.raises(UnsupportedParamsError, match="logit_bias") as info:
        prepare({"logit_bias": {"1": 2}})
    assert info.value.param == "logit_bias"
    call = prepare({"logit_bias": {"1": 2}, "drop_params": True})
    assert "logit_bias" not in orjson.loads(call.request.body)


def test_stream_always_asks_for_usage_but_remembers_the_callers_wish() -> None:
    call = prepare({"stream": True})
    assert orjson.loads(call.request.body)["stream_options"] == {"include_usage": True}
    assert call.caller_wants_usage is False
    assert prepare({"stream": True, "stream_options": {"include_usage": True}}).caller_wants_usage


def test_max_completion_tokens_is_sent_as_max_tokens() -> None:
    body = orjson.loads(prepare({"max_completion_tokens": 9}).request.body)
    assert body["max_tokens"] == 9 and "max_completion_tokens" not in body


def test_control_params_never_reach_the_upstream() -> None:
    body = orjson.loads(
        prepare({"timeout": 3, "num_retries": 1, "extra_body": {"top_k": 5}}).request.body
    )
    assert body == {"model": "meta-llama/llama-3.1-8b-instruct/fp-16", "messages": MSGS, "top_k": 5}


def test_clear_context_overflow_is_refused_offline() -> None:
    long = [{"role": "user", "content": "word " * 20000}]
    with pytest.raises(ContextWindowExceededError, match="16384"):
        prepare_call(MODEL, long, {}, catalog=Catalog(), drop_params=False, env=ENV)
    with pytest.raises(ContextWindowExceededError):
        prepare({"max_tokens": 16384})
    prepare({"max_tokens": 16000})  # fits


def test_unknown_models_are_not_checked() -> None:
    call = prepare({"max_tokens": 10**6}, model="inference/some/new-model")
    assert call.info is None
