from typing import Any

import orjson
import pytest

from tokenway.emulator.errors import ApiError
from tokenway.emulator.tokens import prompt_tokens
from tokenway.emulator.validate import check_against_model, parse_chat_request

MODEL = "meta-llama/llama-3.1-8b-instruct/fp-16"
USER = [{"role": "user", "content": "Hello"}]
TOOLS = [{"type": "function", "function": {"name": "get_weather", "parameters": {}}}]
PNG = "data:image/png;base64,iVBORw0KGgo="


def parse(**fields: Any) -> Any:
    body = {"model": MODEL, "messages": USER, **fields}
    return parse_chat_request(orjson.dumps(body))


def refusal(**fields: Any) -> ApiError:
    with pytest.raises(ApiError) as caught:
        request = parse(**fields)
        check_against_model(request, None)
    return caught.value


def test_a_minimal_request_is_normalized_with_defaults() -> None:
    request = parse()
    assert request.model == MODEL
    assert (request.n, request.max_tokens, request.stop, request.stream) == (1, None, (), False)
    assert request.tool_choice == "none"
    assert request.prompt_tokens == prompt_tokens(USER)


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ({"temperature": 2.5}, "temperature"),
        ({"temperature": -0.1}, "temperature"),
        ({"temperature": "hot"}, "temperature"),
        ({"top_p": 1.5}, "top_p"),
        ({"frequency_penalty": -3}, "frequency_penalty"),
        ({"presence_penalty": 2.1}, "presence_penalty"),
        ({"n": 0}, "n"),
        ({"n": 9}, "n"),
        ({"n": True}, "n"),
        ({"max_tokens": 0}, "max_tokens"),
        ({"max_completion_tokens": 1.5}, "max_completion_tokens"),
        ({"stop": ["a", "b", "c", "d", "e"]}, "stop"),
        ({"stop": 7}, "stop"),
        ({"seed": "x"}, "seed"),
        ({"stream": "yes"}, "stream"),
        ({"stream_options": {"include_usage": True}}, "stream_options"),
        ({"messages": []}, "messages"),
        ({"messages": "hi"}, "messages"),
        ({"messages": ["hi"]}, "messages[0]"),
        ({"messages": [{"role": "robot", "content": "x"}]}, "messages[0].role"),
        ({"messages": [{"role": "user"}]}, "messages[0].content"),
        ({"messages": [{"role": "user", "content": 5}]}, "messages[0].content"),
        (
            {"messages": [{"role": "user", "content": [{"type": "audio"}]}]},
            "messages[0].content[0].type",
        ),
        ({"messages": [{"role": "tool", "content": "42"}]}, "messages[0].tool_call_id"),
        ({"tools": []}, "tools"),
        ({"tools": [{"type": "retrieval"}]}, "tools[0].type"),
        (
            {"tools": [{"type": "function", "function": {"name": "bad name"}}]},
            "tools[0].function.name",
        ),
        ({"tool_choice": "auto"}, "tool_choice"),
        ({"tools": TOOLS, "tool_choice": "sometimes"}, "tool_choice"),
        (
            {"tools": TOOLS, "tool_choice": {"type": "function", "function": {"name": "nope"}}},
            "tool_choice",
        ),
        ({"response_format": {"type": "xml"}}, "response_format.type"),
        ({"response_format": {"type": "json_schema"}}, "response_format.json_schema"),
        (
            {"response_format": {"type": "json_schema", "json_schema": {"name": "a b"}}},
            "response_format.json_schema.name",
        ),
        ({"metadata": "tag"}, "metadata"),
        ({"model": ""}, "model"),
    ],
)
def test_invalid_fields_get_a_400_naming_the_field(fields: dict[str, Any], param: str) -> None:
    error = refusal(**fields)
    assert (error.status, error.type, error.param) == (400, "invalid_request_error", param)


def test_a_body_that_is_not_a_json_object_is_a_400() -> None:
    for body in (b"{not json", b"[1, 2]", b""):
        with pytest.raises(ApiError) as caught:
            parse_chat_request(body)
        assert caught.value.status == 400


def test_unknown_fields_and_metadata_are_accepted() -> None:
    request = parse(foo=1, logprobs=True, top_logprobs=2, metadata={"custom_id": "a", "x": "y"})
    assert request.model == MODEL


def test_an_assistant_message_may_carry_tool_calls_instead_of_content() -> None:
    call = {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{}"}}
    messages = [
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": None, "tool_calls": [call]},
        {"role": "tool", "tool_call_id": "call_1", "content": "ok"},
        {"role": "developer", "content": "Answer briefly."},
    ]
    assert len(parse(messages=messages).messages) == 4


def test_max_completion_tokens_wins_over_max_tokens() -> None:
    assert parse(max_tokens=5).max_tokens == 5
    assert parse(max_tokens=5, max_completion_tokens=7).max_tokens == 7


def test_tool_choice_defaults_to_auto_with_tools_and_a_named_choice_is_kept() -> None:
    assert parse(tools=TOOLS).tool_choice == "auto"
    named = parse(
        tools=TOOLS, tool_choice={"type": "function", "function": {"name": "get_weather"}}
    )
    assert (named.tool_choice, named.forced_tool) == ("named", "get_weather")
    assert parse(tool_choice="none").tool_choice == "none"


def test_unknown_models_and_unsuffixed_ids_are_404_model_not_found() -> None:
    for model in ("gpt-4o", "meta-llama/llama-3.1-8b-instruct"):
        error = refusal(model=model)
        assert (error.status, error.param, error.code) == (404, "model", "model_not_found")


def test_context_overflow_names_the_real_numbers() -> None:
    request = parse(max_tokens=16_000, messages=[{"role": "user", "content": "word " * 500}])
    with pytest.raises(ApiError) as caught:
        check_against_model(request, None)
    error = caught.value
    prompt = request.prompt_tokens
    assert (error.status, error.param, error.code) == (400, "messages", "context_length_exceeded")
    assert error.message == (
        "This model's maximum context length is 16384 tokens. However, you requested "
        f"{prompt + 16_000} tokens ({prompt} in the messages, 16000 in the completion). "
        "Please reduce the length of the messages or completion."
    )


def test_a_prompt_that_fits_exactly_is_accepted() -> None:
    request = parse()
    check_against_model(parse(max_tokens=16_384 - request.prompt_tokens), None)


def test_the_output_cap_rejects_larger_max_tokens_only_when_switched_on() -> None:
    request = parse(max_tokens=5000)
    check_against_model(request, None)
    with pytest.raises(ApiError) as caught:
        check_against_model(request, 4096)
    assert caught.value.param == "max_tokens"


def image(url: str) -> dict[str, Any]:
    return {"type": "image_url", "image_url": {"url": url}}


@pytest.mark.parametrize(
    ("parts", "needle"),
    [
        ([image(PNG)], "not a multimodal model"),
        ([image("https://example.com/cat.png")], "remote URLs"),
        ([image(PNG), image(PNG), image(PNG)], "At most 2 images"),
    ],
)
def test_images_are_refused_with_a_400(parts: list[dict[str, Any]], needle: str) -> None:
    messages = [{"role": "user", "content": [{"type": "text", "text": "What is this?"}, *parts]}]
    error = refusal(messages=messages)
    assert (error.status, error.type, error.param) == (400, "invalid_request_error", "messages")
    assert needle in error.message
