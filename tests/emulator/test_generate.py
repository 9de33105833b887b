import json
from typing import Any

import jsonschema
import orjson

from tokenway.emulator.catalog import MODELS
from tokenway.emulator.generate import apply_stop_and_limit, generate_completion
from tokenway.emulator.tokens import count_tokens
from tokenway.emulator.validate import ChatRequest, parse_chat_request

CARD = MODELS[0]


def request(**fields: Any) -> ChatRequest:
    body = {"model": CARD.id, "messages": [{"role": "user", "content": "Tell me something."}]}
    return parse_chat_request(orjson.dumps({**body, **fields}))


def texts(**fields: Any) -> list[str | None]:
    return [choice.content for choice in generate_completion(request(**fields), CARD).choices]


def test_identical_requests_give_identical_text_and_usage() -> None:
    first = generate_completion(request(), CARD)
    second = generate_completion(request(), CARD)
    assert [c.content for c in first.choices] == [c.content for c in second.choices]
    assert first.usage() == second.usage()
    assert first.id != second.id


def test_the_seed_and_the_messages_change_the_text() -> None:
    assert texts(seed=1) == texts(seed=1)
    assert texts(seed=1) != texts(seed=2)
    assert texts(messages=[{"role": "user", "content": "Something else."}]) != texts()


def test_default_text_is_some_tens_of_tokens_and_usage_counts_it() -> None:
    completion = generate_completion(request(seed=4), CARD)
    choice = completion.choices[0]
    assert choice.content is not None and choice.finish_reason == "stop"
    assert 16 <= choice.completion_tokens == count_tokens(choice.content) <= 100
    usage = completion.usage()
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]


def test_max_tokens_cuts_the_text_and_reports_length() -> None:
    full = texts()[0]
    assert full is not None
    for limit in (1, 5, 9):
        choice = generate_completion(request(max_tokens=limit), CARD).choices[0]
        assert (choice.completion_tokens, choice.finish_reason) == (limit, "length")
        assert choice.content and full.startswith(choice.content)


def test_a_stop_string_ends_the_text_before_it() -> None:
    full = texts(seed=9)[0]
    assert full is not None
    choice = generate_completion(request(seed=9, stop=["."]), CARD).choices[0]
    assert choice.content == full[: full.index(".")]
    assert choice.finish_reason == "stop"


def test_stop_and_limit_rules() -> None:
    assert apply_stop_and_limit("one two three", ("two",), 10) == ("one ", "stop")
    assert apply_stop_and_limit("one two three", ("three",), 2) == ("one two", "length")
    assert apply_stop_and_limit("one two", ("zzz",), 10) == ("one two", "stop")


def test_n_choices_differ_and_usage_sums_them() -> None:
    completion = generate_completion(request(n=3), CARD)
    assert [c.index for c in completion.choices] == [0, 1, 2]
    assert len({c.content for c in completion.choices}) == 3
    assert completion.completion_tokens == sum(c.completion_tokens for c in completion.choices)


def test_json_schema_content_validates() -> None:
    schema = {
        "type": "object",
        "properties": {"title": {"type": "string"}, "year": {"type": "integer"}},
        "required": ["title", "year"],
        "additionalProperties": False,
    }
    fmt = {
        "type": "json_schema",
        "json_schema": {"name": "movie", "schema": schema, "strict": True},
    }
    for seed in range(10):
        content = texts(seed=seed, response_format=fmt)[0]
        assert content is not None
        jsonschema.validate(json.loads(content), schema)


def test_json_object_content_is_an_object() -> None:
    content = texts(response_format={"type": "json_object"})[0]
    assert content is not None and isinstance(json.loads(content), dict)


def test_tool_calls_count_name_and_arguments_as_completion_tokens() -> None:
    tools = [
        {
            "type": "function",
            "function": {
                "name": "lookup",
                "parameters": {
                    "type": "object",
                    "properties": {"q": {"type": "string"}},
                    "required": ["q"],
                },
            },
        }
    ]
    choice = generate_completion(request(tools=tools, tool_choice="required"), CARD).choices[0]
    assert choice.content is None and choice.finish_reason == "tool_calls"
    call = choice.tool_calls[0]
    assert choice.completion_tokens == count_tokens(call.name) + count_tokens(call.arguments)
