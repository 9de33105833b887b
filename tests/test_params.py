"""Bad input is refused before the network, with the parameter named."""

from typing import Any

import pytest

from tokenway.errors import BadRequestError
from tokenway.params import validate_chat_body

OK = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
TOOL = {"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}


@pytest.mark.parametrize(
    ("extra", "param"),
    [
        ({"temperature": 2.5}, "temperature"),
        ({"temperature": "hot"}, "temperature"),
        ({"top_p": 1.1}, "top_p"),
        ({"frequency_penalty": -3}, "frequency_penalty"),
        ({"presence_penalty": 2.01}, "presence_penalty"),
        ({"n": 0}, "n"),
        ({"n": True}, "n"),
        ({"max_tokens": 0}, "max_tokens"),
        ({"max_tokens": 1.5}, "max_tokens"),
        ({"stop": ["a", "b", "c", "d", "e"]}, "stop"),
        ({"stop": 3}, "stop"),
        ({"tools": {"name": "x"}}, "tools"),
        ({"tools": [{"type": "function", "function": {"name": "bad name"}}]},
         "tools[0].function.name"),
        ({"tools": [{"type": "function", "function": {"name": "f", "parameters": []}}]},
         "tools[0].function.parameters"),
        ({"tool_choice": "sometimes"}, "tool_choice"),
        ({"tool_choice": "required"}, "tool_choice"),
        ({"tools": [TOOL], "tool_choice": {"type": "function", "function": {"name": "nope"}}},
         "tool_choice"),
        ({"response_format": {"type": "yaml"}}, "response_format.type"),
        ({"response_format": {"type": ["json_object"]}}, "response_format.type"),
        ({"response_format": "json"}, "response_format"),
        ({"tool_choice": {"type": "function", "function": {"name": "f"}},
          "tools": [{"type": "function", "function": "f"}]}, "tools[0].function"),
        ({"tool_choice": "auto", "tools": [5]}, "tools[0]"),
        ({"stream": True, "stream_options": {"include_usage": "no"}},
         "stream_options.include_usage"),
        ({"n": 129}, "n"),
        ({"max_tokens": 2**31}, "max_tokens"),
        ({"max_completion_tokens": 2**64 - 1}, "max_completion_tokens"),
        ({"seed": 2**63}, "seed"),
        ({"messages": [{"role": ["user"], "content": "x"}]}, "messages[0].role"),
        ({"messages": [{"role": {"a": 1}, "content": "x"}]}, "messages[0].role"),
        ({"messages": [{"role": "user", "content": [5]}]}, "messages[0].content[0]"),
        ({"messages": [{"role": "user", "content": [{"text": "x"}]}]},
         "messages[0].content[0].type"),
        ({"messages": [{"role": "user", "content": [{"type": {}}]}]},
         "messages[0].content[0].type"),
        ({"messages": [{"role": "user", "content": [{"type": "text", "text": ["x"]}]}]},
         "messages[0].content[0].text"),
        ({"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {}}]}]},
         "messages[0].content[0].image_url"),
        ({"messages": [{"role": "user", "content": "x", "name": 5}]}, "messages[0].name"),
        ({"messages": [{"role": "assistant", "content": None, "tool_calls": {"id": "c"}}]},
         "messages[0].tool_calls"),
        ({"messages": [{"role": "assistant", "content": None, "tool_calls": [{"id": "c"}]}]},
         "messages[0].tool_calls[0].function"),
        ({"messages": [{"role": "assistant", "content": None,
                        "tool_calls": [{"id": "c", "function": {"name": "f", "arguments": {}}}]}]},
         "messages[0].tool_calls[0].function.arguments"),
        ({"messages": [{"role": "assistant", "content": None, "function_call": "f"}]},
         "messages[0].function_call"),
        ({"response_format": {"type": "json_schema"}}, "response_format.json_schema"),
        ({"stream_options": {"include_usage": True}}, "stream_options"),
        ({"stream": "yes"}, "stream"),
        ({"user": 5}, "user"),
        ({"messages": []}, "messages"),
        ({"messages": "hi"}, "messages"),
        ({"messages": [{"role": "robot", "content": "x"}]}, "messages[0].role"),
        ({"messages": [{"role": "user"}]}, "messages[0].content"),
        ({"messages": [{"role": "user", "content": 5}]}, "messages[0].content"),
        ({"messages": [{"role": "tool", "content": "x"}]}, "messages[0].tool_call_id"),
        ({"model": ""}, "model"),
    ],
)  # fmt: skip
def test_invalid_values_name_the_parameter(extra: dict[str, Any], param: str) -> None:
    with pytest.raises(BadRequestError) as info:
        validate_chat_body({**OK, **extra})
    assert info.value.param == param
    assert info.value.status_code == 400


def test_valid_bodies_pass() -> None:
    validate_chat_body(
        {
            **OK,
            "temperature": 0,
            "top_p": 1,
            "n": 2,
            "stop": ["x"],
            "tools": [TOOL],
            "tool_choice": {"type": "function", "function": {"name": "get_weather"}},
            "response_format": {"type": "json_schema", "json_schema": {"name": "a", "schema": {}}},
            "stream": True,
            "stream_options": {"include_usage": False},
            "max_tokens": 2**31 - 1,
            "seed": -(2**63),
            "messages": [
                {"role": "system", "content": "be brief"},
                {"role": "user", "content": [{"type": "text", "text": "hi"}]},
                {"role": "user", "content": [{"type": "image_url", "image_url": {"url": "u"}}]},
                {"role": "user", "content": [{"type": "image_url", "image_url": "u"}]},
                {"role": "user", "content": [{"type": "input_audio", "input_audio": {}}]},
                {"role": "user", "content": "named", "name": "ann"},
                {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {
                            "id": "c",
                            "type": "function",
                            "function": {"name": "get_weather", "arguments": "{}"},
                        }
                    ],
                },
                {"role": "tool", "tool_call_id": "c", "content": "sunny"},
            ],
        }
    )
