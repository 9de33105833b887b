"""``stream_chunk_builder`` with LiteLLM's signature; a stream's ``_hidden_params``."""

from __future__ import annotations

import pytest

import tokenway
from tokenway import stream_chunk_builder
from tokenway.emulator import Emulator

MODEL = "inference/meta-llama/llama-3.1-8b-instruct/fp-16"
MSGS = [{"role": "user", "content": "What is the capital of France?"}]


def test_messages_give_usage_when_the_stream_had_none(inference_env: Emulator) -> None:
    stream = tokenway.completion(MODEL, MSGS, max_tokens=20, stream=True, seed=3)
    chunks = list(stream)
    assert stream_chunk_builder(chunks).usage is None
    whole = stream_chunk_builder(chunks, messages=MSGS)
    usage = whole.usage
    assert usage is not None and stream.usage is not None
    assert usage.prompt_tokens == tokenway.token_counter(model=MODEL, messages=MSGS)
    assert abs(usage.completion_tokens - stream.usage.completion_tokens) <= 5
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens


def test_the_streams_own_usage_wins_and_times_are_accepted(inference_env: Emulator) -> None:
    chunks = list(
        tokenway.completion(
            MODEL, MSGS, max_tokens=5, stream=True, stream_options={"include_usage": True}
        )
    )
    exact = chunks[-1].usage
    whole = stream_chunk_builder(chunks, messages=MSGS, start_time=None, end_time=None)
    assert whole.usage == exact and whole.cost == chunks[-1].cost


def test_hidden_params_of_answers_and_streams(inference_env: Emulator) -> None:
    answer = tokenway.completion(MODEL, MSGS, max_tokens=5)
    hidden = answer._hidden_params
    assert hidden["response_cost"] == answer.cost is not None
    assert hidden["custom_llm_provider"] == "inference" and hidden["model_id"] is None
    assert hidden["api_base"] == inference_env.base_url
    assert hidden["litellm_model_name"] == MODEL
    assert hidden["additional_headers"] == answer.response_headers
    stream = tokenway.completion(MODEL, MSGS, max_tokens=5, stream=True)
    list(stream)
    assert stream._hidden_params["response_cost"] == pytest.approx(stream.cost)


def test_custom_llm_provider_prefixes_an_unprefixed_model(inference_env: Emulator) -> None:
    bare = "meta-llama/llama-3.1-8b-instruct/fp-16"
    answer = tokenway.completion(bare, MSGS, custom_llm_provider="inference", max_tokens=5)
    assert answer.cost is not None  # priced: the catalog knew the full name
    again = tokenway.completion(MODEL, MSGS, custom_llm_provider="inference", max_tokens=5)
    assert again.model == bare  # not prefixed twice
    vectors = tokenway.embedding("qwen/qwen3-embedding-4b", "hi", custom_llm_provider="inference")
    assert vectors.data
    with pytest.raises(tokenway.UnknownProviderError, match="known providers"):
        tokenway.completion(bare, MSGS, custom_llm_provider="bedrock")
    assert tokenway.get_model_info(bare, custom_llm_provider="inference") is not None
