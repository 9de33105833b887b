"""The SDK's user-visible behaviour against a real emulator over loopback."""

from __future__ import annotations

import asyncio
import json

import pytest

import tokenway
from tokenway import completion, completion_cost, stream_chunk_builder
from tokenway.emulator import Emulator

MODEL = "inference/meta-llama/llama-3.1-8b-instruct/fp-16"
MSGS = [{"role": "user", "content": "What is the capital of France?"}]
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {
            "type": "object",
            "properties": {"location": {"type": "string"}},
            "required": ["location"],
        },
    },
}


def test_response_shape_and_cost(inference_env: Emulator) -> None:
    response = completion(model=MODEL, messages=MSGS, seed=1)
    assert response.object == "chat.completion"
    assert response.model == "meta-llama/llama-3.1-8b-instruct/fp-16"
    assert response.id.startswith("chatcmpl-") and response.created > 0
    usage = response.usage
    assert usage is not None and usage.total_tokens == usage.prompt_tokens + usage.completion_tokens
    assert response.cost == pytest.approx(usage.total_tokens * 0.03 / 1e6)
    assert completion_cost(response) == response.cost
    assert response.model_dump()["choices"][0]["message"]["role"] == "assistant"


def test_stream_matches_the_plain_answer_and_carries_cost(inference_env: Emulator) -> None:
    plain = completion(model=MODEL, messages=MSGS, seed=7)
    stream = completion(model=MODEL, messages=MSGS, seed=7, stream=True)
    chunks = list(stream)
    assert all(c.usage is None for c in chunks)  # the usage chunk was tokenway's, not ours
    rebuilt = stream_chunk_builder(chunks)
    assert rebuilt.choices[0].message.content == plain.choices[0].message.content
    assert rebuilt.id == chunks[0].id and rebuilt.created == chunks[0].created
    assert stream.usage is not None and stream.usage.total_tokens == plain.usage.total_tokens  # type: ignore[union-attr]
    assert stream.cost == pytest.approx(plain.cost)


def test_stream_with_usage_when_asked(inference_env: Emulator) -> None:
    chunks = list(
        completion(model=MODEL, messages=MSGS, stream=True, stream_options={"include_usage": True})
    )
    assert chunks[-1].choices == [] and chunks[-1].usage is not None
    assert chunks[-1].cost is not None
    assert stream_chunk_builder(chunks).usage is not None


def test_tool_calls(inference_env: Emulator) -> None:
    response = completion(
        model=MODEL,
        messages=[{"role": "user", "content": "What's the weather like in Paris?"}],
        tools=[WEATHER],
        tool_choice="auto",
    )
    calls = response.choices[0].message.tool_calls
    assert calls is not None and calls[0].function.name == "get_weather"
    assert "location" in json.loads(calls[0].function.arguments)
    streamed = stream_chunk_builder(
        completion(
            model=MODEL,
            messages=[{"role": "user", "content": "What's the weather like in Paris?"}],
            tools=[WEATHER],
            tool_choice="required",
            stream=True,
        )
    )
    call = streamed.choices[0].message.tool_calls
    assert call is not None and json.loads(call[0].function.arguments)["location"]


def test_acompletion_plain_and_stream(inference_env: Emulator) -> None:
    async def run() -> tuple[str | None, str]:
        response = await tokenway.acompletion(model=MODEL, messages=MSGS, seed=3)
        stream = await tokenway.acompletion(model=MODEL, messages=MSGS, seed=3, stream=True)
        text = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
        return response.choices[0].message.content, text

    plain, streamed = asyncio.run(run())
    assert plain == streamed


def test_abandoned_stream_closes_its_connection(inference_env: Emulator) -> None:
    stream = completion(model=MODEL, messages=MSGS, stream=True, max_tokens=200)
    first = next(stream)
    assert first.choices[0].delta.role == "assistant"
    stream.close()
    with pytest.raises(StopIteration):
        next(stream)
    # the pool is still usable afterwards
    assert completion(model=MODEL, messages=MSGS).choices


def test_unknown_model_costs_none_and_context_is_not_checked(inference_env: Emulator) -> None:
    with pytest.raises(tokenway.NotFoundError):
        completion(model="inference/meta-llama/llama-3.1-8b-instruct", messages=MSGS)
    assert completion_cost(model="inference/unknown/model", prompt_tokens=5) is None


def test_register_model_prices_a_new_model(inference_env: Emulator) -> None:
    client = tokenway.Client()
    client.register_model(MODEL, {"input_cost_per_token": 1.0, "output_cost_per_token": 0.0})
    response = client.completion(MODEL, MSGS)
    assert isinstance(response, tokenway.ChatCompletion)
    assert response.cost == pytest.approx(response.usage.prompt_tokens)  # type: ignore[union-attr]
    per_call = completion(
        model=MODEL, messages=MSGS, input_cost_per_token=2.0, output_cost_per_token=0.0
    )
    assert per_call.cost == pytest.approx(2.0 * per_call.usage.prompt_tokens)  # type: ignore[union-attr]


def test_upstream_context_overflow_maps_to_the_same_class(inference_env: Emulator) -> None:
    # Short enough to pass the offline floor, too long for the emulator's count.
    text = "a" * 90_000
    with pytest.raises(tokenway.ContextWindowExceededError) as info:
        completion(model=MODEL, messages=[{"role": "user", "content": text}], num_retries=0)
    assert info.value.status_code == 400
