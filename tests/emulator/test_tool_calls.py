import json
import random
from typing import Any

import orjson

from tokenway.emulator.tool_calls import new_tool_call_id, plan_tool_calls
from tokenway.emulator.validate import ChatRequest, parse_chat_request


def tool(name: str, description: str, properties: dict[str, Any]) -> dict[str, Any]:
    parameters = {"type": "object", "properties": properties, "required": list(properties)}
    return {
        "type": "function",
        "function": {"name": name, "description": description, "parameters": parameters},
    }


WEATHER = tool(
    "get_weather",
    "Current weather for a location",
    {"location": {"type": "string"}, "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}},
)
TIME = tool("get_time", "Current local time in a city", {"city": {"type": "string"}})
STOCK = tool("get_stock_price", "Latest stock price", {"ticker": {"type": "string"}})


def request(text: str, tools: list[dict[str, Any]], **fields: Any) -> ChatRequest:
    messages = [{"role": "user", "content": text}]
    body = {"model": "m", "messages": messages, "tools": tools, **fields}
    return parse_chat_request(orjson.dumps(body))


def test_auto_calls_the_most_relevant_tool_with_schema_valid_arguments() -> None:
    calls = plan_tool_calls(
        request("What's the weather in Paris?", [STOCK, WEATHER]), random.Random(0)
    )
    assert [call.name for call in calls] == ["get_weather"]
    arguments = json.loads(calls[0].arguments)
    assert arguments["location"] == "Paris"
    assert arguments["unit"] in ("celsius", "fahrenheit")


def test_two_relevant_tools_are_called_in_parallel_unless_disabled() -> None:
    text = "What's the weather in Paris and the time in Tokyo?"
    calls = plan_tool_calls(request(text, [WEATHER, TIME, STOCK]), random.Random(0))
    assert [call.name for call in calls] == ["get_weather", "get_time"]
    assert json.loads(calls[1].arguments) == {"city": "Tokyo"}
    single = request(text, [WEATHER, TIME], parallel_tool_calls=False)
    assert len(plan_tool_calls(single, random.Random(0))) == 1


def test_tool_choice_none_named_and_required() -> None:
    text = "Tell me a story."
    assert plan_tool_calls(request(text, [WEATHER], tool_choice="none"), random.Random(0)) == []
    named = request(
        text, [WEATHER, TIME], tool_choice={"type": "function", "function": {"name": "get_time"}}
    )
    assert [c.name for c in plan_tool_calls(named, random.Random(0))] == ["get_time"]
    required = request(text, [WEATHER, TIME], tool_choice="required")
    assert len(plan_tool_calls(required, random.Random(0))) >= 1


def test_auto_answers_in_text_after_a_tool_result() -> None:
    messages = [
        {"role": "user", "content": "Weather in Paris?"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": "{}"},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "18C and sunny"},
    ]
    body = {"model": "m", "messages": messages, "tools": [WEATHER]}
    assert plan_tool_calls(parse_chat_request(orjson.dumps(body)), random.Random(0)) == []


def test_tool_call_ids_look_like_openai_ones() -> None:
    call_id = new_tool_call_id()
    assert call_id.startswith("call_") and len(call_id) == 29 and call_id[5:].isalnum()
    assert new_tool_call_id() != call_id
