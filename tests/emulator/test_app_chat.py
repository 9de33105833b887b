"""Non-streaming chat completions over HTTP with the openai SDK (checklist 5-8, 15-18, 20)."""

from __future__ import annotations

import json
from typing import Any

import jsonschema
import openai
import pytest

from tokenway.emulator import Emulator, count_tokens

from .conftest import StartEmulator
from .raw_http import HELLO, MODEL, chat

IDS = [
    "meta-llama/llama-3.1-8b-instruct/fp-16",
    "meta-llama/llama-3.2-3b-instruct/fp-16",
    "mistralai/mistral-nemo-12b-instruct/fp-8",
]
WEATHER: Any = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Get the current weather in a location",
        "parameters": {
            "type": "object",
            "properties": {
                "location": {"type": "string"},
                "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
            },
            "required": ["location", "unit"],
        },
    },
}
TIME: Any = {
    "type": "function",
    "function": {
        "name": "get_time",
        "description": "Local time in a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
}
ASK: Any = [{"role": "user", "content": "What's the weather in Paris?"}]


def create(client: openai.OpenAI, **fields: Any) -> Any:
    fields.setdefault("model", MODEL)
    fields.setdefault("messages", HELLO)
    return client.chat.completions.create(**fields)


@pytest.mark.parametrize("model", IDS)
def test_item5_the_response_model_is_the_requested_id_byte_for_byte(
    client: openai.OpenAI, model: str
) -> None:
    assert create(client, model=model).model == model


def test_item6_non_streaming_shape(emulator: Emulator) -> None:
    response = chat(emulator, seed=3)
    assert response.status == 200 and response.headers["content-type"] == "application/json"
    body = response.json()
    assert body["object"] == "chat.completion" and body["id"].startswith("chatcmpl-")
    (choice,) = body["choices"]
    assert choice["index"] == 0 and choice["logprobs"] is None
    assert choice["message"]["role"] == "assistant" and isinstance(
        choice["message"]["content"], str
    )
    assert choice["finish_reason"] == "stop"
    usage = body["usage"]
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
    assert usage["prompt_tokens"] == 3 + 4 + count_tokens("Hello there!")
    assert usage["completion_tokens"] == count_tokens(choice["message"]["content"])


def test_item6_identical_requests_give_identical_usage_and_text(client: openai.OpenAI) -> None:
    first, second = create(client), create(client)
    assert first.usage == second.usage
    assert first.choices[0].message.content == second.choices[0].message.content


def test_item7_context_overflow(client: openai.OpenAI) -> None:
    long_text = "lorem " * 3000  # lore m per word: 6000 tokens
    messages: Any = [{"role": "user", "content": long_text}]
    prompt = 3 + 4 + 6000
    with pytest.raises(openai.BadRequestError) as caught:
        create(client, messages=messages, max_tokens=12_000)
    assert caught.value.body == {
        "message": "This model's maximum context length is 16384 tokens. However, you requested "
        f"{prompt + 12_000} tokens ({prompt} in the messages, 12000 in the completion). "
        "Please reduce the length of the messages or completion.",
        "type": "invalid_request_error",
        "param": "messages",
        "code": "context_length_exceeded",
    }
    with pytest.raises(openai.BadRequestError):
        create(client, messages=messages, max_completion_tokens=12_000)
    assert (
        create(client, messages=messages, max_tokens=16_384 - prompt).usage.prompt_tokens == prompt
    )


def test_item7_the_4096_output_cap_is_off_by_default_and_switchable(
    start_emulator: StartEmulator,
) -> None:
    assert chat(start_emulator(), max_tokens=5000).status == 200
    capped = chat(start_emulator(max_output_tokens=4096), max_tokens=5000)
    assert capped.status == 400 and capped.json()["error"]["param"] == "max_tokens"


def test_item8_unknown_fields_are_accepted_and_ignored(client: openai.OpenAI) -> None:
    response = create(
        client,
        parallel_tool_calls=False,
        logprobs=True,
        top_logprobs=2,
        extra_body={"foo": {"bar": 1}},
    )
    assert response.choices[0].message.content


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ({"temperature": 3}, "temperature"),
        ({"top_p": -1}, "top_p"),
        ({"n": 0}, "n"),
        ({"max_tokens": 0}, "max_tokens"),
        ({"stop": ["a", "b", "c", "d", "e"]}, "stop"),
        ({"messages": []}, "messages"),
        ({"messages": [{"role": "wizard", "content": "hi"}]}, "messages[0].role"),
    ],
)
def test_validation_errors_are_400_naming_the_field(
    client: openai.OpenAI, fields: dict[str, Any], param: str
) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        create(client, **fields)
    assert caught.value.body["param"] == param  # type: ignore[index]


def test_item15_json_schema_content_validates(client: openai.OpenAI) -> None:
    schema = {
        "type": "object",
        "properties": {
            "city": {"type": "string"},
            "temperature_c": {"type": "number", "minimum": -50, "maximum": 60},
            "conditions": {"type": "string", "enum": ["sunny", "cloudy", "rain"]},
            "hourly": {"type": "array", "items": {"type": "integer"}, "minItems": 3},
            "alerts": {
                "type": "object",
                "properties": {"active": {"type": "boolean"}},
                "required": ["active"],
            },
        },
        "required": ["city", "temperature_c", "conditions", "hourly", "alerts"],
        "additionalProperties": False,
    }
    fmt = {
        "type": "json_schema",
        "json_schema": {"name": "weather", "schema": schema, "strict": True},
    }
    for seed in range(5):
        content = (
            create(client, messages=ASK, response_format=fmt, seed=seed).choices[0].message.content
        )
        jsonschema.validate(json.loads(content), schema)


def test_item15_json_object_content_is_an_object(client: openai.OpenAI) -> None:
    content = create(client, response_format={"type": "json_object"}).choices[0].message.content
    assert isinstance(json.loads(content), dict)


def test_item16_auto_calls_a_tool_with_null_content(client: openai.OpenAI) -> None:
    choice = create(client, messages=ASK, tools=[WEATHER]).choices[0]
    assert choice.finish_reason == "tool_calls" and choice.message.content is None
    (call,) = choice.message.tool_calls
    assert call.type == "function" and call.id.startswith("call_") and len(call.id) == 29
    arguments = json.loads(call.function.arguments)
    assert arguments["location"] == "Paris" and arguments["unit"] in ("celsius", "fahrenheit")


def test_item16_tool_choice_none_required_and_named(client: openai.OpenAI) -> None:
    none = create(client, messages=ASK, tools=[WEATHER], tool_choice="none").choices[0]
    assert none.message.tool_calls is None and none.message.content and none.finish_reason == "stop"
    chitchat: Any = [{"role": "user", "content": "Tell me a story."}]
    required = create(
        client, messages=chitchat, tools=[WEATHER, TIME], tool_choice="required"
    ).choices[0]
    assert required.message.tool_calls and required.finish_reason == "tool_calls"
    named_choice = {"type": "function", "function": {"name": "get_time"}}
    named = create(client, messages=ASK, tools=[WEATHER, TIME], tool_choice=named_choice).choices[0]
    assert [c.function.name for c in named.message.tool_calls] == ["get_time"]


def test_item16_parallel_calls(client: openai.OpenAI) -> None:
    both: Any = [{"role": "user", "content": "What's the weather in Paris and the time in Tokyo?"}]
    calls = create(client, messages=both, tools=[WEATHER, TIME]).choices[0].message.tool_calls
    assert [c.function.name for c in calls] == ["get_weather", "get_time"]
    assert json.loads(calls[1].function.arguments) == {"city": "Tokyo"}
    one = create(client, messages=both, tools=[WEATHER, TIME], parallel_tool_calls=False)
    assert len(one.choices[0].message.tool_calls) == 1


def test_item17_seed_makes_output_deterministic(client: openai.OpenAI) -> None:
    def text(seed: int) -> str:
        return str(create(client, seed=seed).choices[0].message.content)

    assert text(7) == text(7)
    assert text(7) != text(8)


def test_item17_stop_strings_and_length(client: openai.OpenAI) -> None:
    full = str(create(client, seed=5).choices[0].message.content)
    stopped = create(client, seed=5, stop=[".", "zzz"]).choices[0]
    assert stopped.message.content == full[: full.index(".")] and stopped.finish_reason == "stop"
    word = full.split()[3]
    single = create(client, seed=5, stop=word).choices[0]
    assert single.message.content == full[: full.index(word)]
    short = create(client, seed=5, max_tokens=4)
    assert short.choices[0].finish_reason == "length" and short.usage.completion_tokens == 4
    assert full.startswith(str(short.choices[0].message.content))


def test_item12_n_choices_non_streaming(client: openai.OpenAI) -> None:
    response = create(client, n=3)
    assert [c.index for c in response.choices] == [0, 1, 2]
    tokens = sum(count_tokens(str(c.message.content)) for c in response.choices)
    assert response.usage.completion_tokens == tokens


PNG = (
    "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8"
    "/5+hHgAHggJ/PchI7wAAAABJRU5ErkJggg=="
)


@pytest.mark.parametrize("urls", [[PNG], ["https://example.com/cat.png"], [PNG, PNG, PNG]])
def test_item18_images_are_refused(client: openai.OpenAI, urls: list[str]) -> None:
    parts: list[dict[str, Any]] = [{"type": "text", "text": "What is in this image?"}]
    parts += [{"type": "image_url", "image_url": {"url": url}} for url in urls]
    with pytest.raises(openai.BadRequestError) as caught:
        create(client, messages=[{"role": "user", "content": parts}])
    assert caught.value.body["type"] == "invalid_request_error"  # type: ignore[index]


def test_item18_bodies_over_1_mb_are_refused(emulator: Emulator) -> None:
    response = chat(emulator, messages=[{"role": "user", "content": " " * (1024 * 1024)}])
    assert response.status == 400 and "too large" in response.json()["error"]["message"]


def test_item20_metadata_is_accepted(client: openai.OpenAI) -> None:
    metadata = {"custom_id": "job-1", "webhook_id": "AhALzdz8S", "anything": "goes"}
    assert create(client, metadata=metadata).choices[0].message.content
