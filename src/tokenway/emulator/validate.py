"""A chat request body, checked and normalized; every refusal is an `ApiError`.

Shape checks come first (400 naming the field), then the model (404), then what
depends on the model: images (checklist 18), output cap and context window (7).
Unknown fields are accepted and ignored (checklist 8).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import orjson

from .catalog import CHAT, EMBEDDING, ModelCard, find_model
from .errors import ApiError, context_length_exceeded, invalid_request
from .messages import validate_messages
from .tokens import prompt_tokens

__all__ = [
    "MAX_CHOICES",
    "ChatRequest",
    "boolean_field",
    "check_against_model",
    "check_sampling",
    "decode_body",
    "include_usage_of",
    "integer_field",
    "model_for",
    "parse_chat_request",
    "stop_strings",
]

MAX_CHOICES = 8
MAX_IMAGES = 2
MAX_STOP_STRINGS = 4
_FUNCTION_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
_TOOL_CHOICE_MODES = ("none", "auto", "required")


@dataclass(frozen=True)
class ChatRequest:
    """What generation needs from a valid request; `model` is the ID as sent."""

    model: str
    messages: list[dict[str, Any]]
    image_urls: tuple[str, ...] = ()
    n: int = 1
    max_tokens: int | None = None
    stop: tuple[str, ...] = ()
    seed: int | None = None
    stream: bool = False
    include_usage: bool = False
    tools: tuple[dict[str, Any], ...] = ()
    tool_choice: str = "none"
    forced_tool: str | None = None
    parallel_tool_calls: bool = True
    response_kind: str = "text"
    response_schema: dict[str, Any] | None = None
    prompt_tokens: int = 0


def parse_chat_request(body: bytes) -> ChatRequest:
    """Check the body's shape; the model is not looked up here."""
    data = decode_body(body)
    model = data.get("model")
    if not isinstance(model, str) or not model:
        raise invalid_request("You must provide a model parameter.", "model")
    messages, image_urls = validate_messages(data.get("messages"))
    check_sampling(data)
    tools = _tools(data.get("tools"))
    tool_choice, forced_tool = _tool_choice(data.get("tool_choice"), tools)
    response_kind, response_schema = _response_format(data.get("response_format"))
    stream = boolean_field(data, "stream", default=False)
    return ChatRequest(
        model=model,
        messages=messages,
        image_urls=image_urls,
        n=integer_field(data, "n", 1, MAX_CHOICES) or 1,
        max_tokens=_max_tokens(data),
        stop=stop_strings(data.get("stop")),
        seed=integer_field(data, "seed", -(2**63), 2**64 - 1),
        stream=stream,
        include_usage=include_usage_of(data.get("stream_options"), stream),
        tools=tools,
        tool_choice=tool_choice,
        forced_tool=forced_tool,
        parallel_tool_calls=data.get("parallel_tool_calls") is not False,
        response_kind=response_kind,
        response_schema=response_schema,
        prompt_tokens=prompt_tokens(messages, tools),
    )


def check_against_model(request: ChatRequest, max_output_tokens: int | None) -> ModelCard:
    """The model card, once the request fits the model; raises `ApiError` otherwise."""
    card = model_for(request.model, CHAT)
    _check_images(request.image_urls, card)
    if max_output_tokens is not None and (request.max_tokens or 0) > max_output_tokens:
        raise invalid_request(
            f"max_tokens is too large: {request.max_tokens}. This model supports at most "
            f"{max_output_tokens} completion tokens.",
            "max_tokens",
        )
    completion = request.max_tokens or 0
    if request.prompt_tokens + completion > card.context_window:
        raise context_length_exceeded(card.context_window, request.prompt_tokens, completion)
    return card


def model_for(model_id: str, kind: str) -> ModelCard:
    """The card of a model serving `kind` endpoints: 404 if unknown, 400 if of another kind."""
    card = find_model(model_id)
    if card is None:
        raise ApiError(
            404,
            f"The model `{model_id}` does not exist.",
            "invalid_request_error",
            "model",
            "model_not_found",
        )
    if card.kind != kind:
        # vLLM's refusal, e.g. "The model does not support Embeddings API" (emulation rule).
        serves = "embeddings" if card.kind == EMBEDDING else "chat and text completions"
        raise invalid_request(
            f"The model `{model_id}` does not support this endpoint: it serves {serves} only.",
            "model",
        )
    return card


def decode_body(body: bytes) -> dict[str, Any]:
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        data = None
    if not isinstance(data, dict):
        raise invalid_request(
            "We could not parse the JSON body of your request. The body must be a JSON object "
            "(HINT: set 'Content-Type: application/json' and send valid JSON)."
        )
    return data


def check_sampling(data: dict[str, Any]) -> None:
    _number(data, "temperature", 0.0, 2.0)
    _number(data, "top_p", 0.0, 1.0)
    _number(data, "frequency_penalty", -2.0, 2.0)
    _number(data, "presence_penalty", -2.0, 2.0)
    for name in ("user",):
        if data.get(name) is not None and not isinstance(data[name], str):
            raise invalid_request(f"Invalid type for '{name}': expected a string.", name)
    if data.get("metadata") is not None and not isinstance(data["metadata"], dict):
        raise invalid_request("Invalid type for 'metadata': expected an object.", "metadata")


def _max_tokens(data: dict[str, Any]) -> int | None:
    # vLLM: max_completion_tokens wins over its deprecated alias max_tokens.
    completion = integer_field(data, "max_completion_tokens", 1, None)
    legacy = integer_field(data, "max_tokens", 1, None)
    return completion if completion is not None else legacy


def stop_strings(value: object) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,) if value else ()
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise invalid_request("Invalid 'stop': expected a string or an array of strings.", "stop")
    if len(value) > MAX_STOP_STRINGS:
        raise invalid_request(
            f"Invalid 'stop': array too long. Expected at most {MAX_STOP_STRINGS} items, "
            f"but got {len(value)} instead.",
            "stop",
        )
    return tuple(item for item in value if item)


def include_usage_of(value: object, stream: bool) -> bool:
    if value is None:
        return False
    if not stream:
        raise invalid_request(
            "The 'stream_options' parameter is only allowed when 'stream' is enabled.",
            "stream_options",
        )
    if not isinstance(value, dict):
        raise invalid_request(
            "Invalid type for 'stream_options': expected an object.", "stream_options"
        )
    include = value.get("include_usage", False)
    if not isinstance(include, bool):
        raise invalid_request(
            "Invalid type for 'stream_options.include_usage': expected a boolean.",
            "stream_options.include_usage",
        )
    return include


def _tools(value: object) -> tuple[dict[str, Any], ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not value:
        raise invalid_request("Invalid 'tools': expected a non-empty array of tools.", "tools")
    for index, tool in enumerate(value):
        where = f"tools[{index}]"
        if not isinstance(tool, dict) or tool.get("type") != "function":
            raise invalid_request(
                f"Invalid value for '{where}.type': expected 'function'.", f"{where}.type"
            )
        function = tool.get("function")
        if not isinstance(function, dict):
            raise invalid_request(
                f"Missing required parameter: '{where}.function'.", f"{where}.function"
            )
        name = function.get("name")
        if not isinstance(name, str) or not _FUNCTION_NAME.match(name):
            raise invalid_request(
                f"Invalid '{where}.function.name': expected a string of letters, digits, "
                "underscores and dashes, at most 64 characters.",
                f"{where}.function.name",
            )
        parameters = function.get("parameters")
        if parameters is not None and not isinstance(parameters, dict):
            raise invalid_request(
                f"Invalid type for '{where}.function.parameters': expected an object.",
                f"{where}.function.parameters",
            )
    return tuple(value)


def _tool_choice(value: object, tools: tuple[dict[str, Any], ...]) -> tuple[str, str | None]:
    if value is None:
        return ("auto" if tools else "none"), None
    if value == "none":
        return "none", None
    if not tools:
        raise invalid_request(
            "Invalid value for 'tool_choice': 'tool_choice' is only allowed when 'tools' "
            "are specified.",
            "tool_choice",
        )
    if isinstance(value, str) and value in _TOOL_CHOICE_MODES:
        return value, None
    name = _named_function(value)
    if name is None:
        raise invalid_request(
            "Invalid value for 'tool_choice': expected 'none', 'auto', 'required' or "
            '{"type": "function", "function": {"name": ...}}.',
            "tool_choice",
        )
    if name not in {tool["function"]["name"] for tool in tools}:
        raise invalid_request(
            f"Invalid value for 'tool_choice': no function named '{name}' in 'tools'.",
            "tool_choice",
        )
    return "named", name


def _named_function(value: object) -> str | None:
    if not isinstance(value, dict) or value.get("type") != "function":
        return None
    function = value.get("function")
    name = function.get("name") if isinstance(function, dict) else None
    return name if isinstance(name, str) else None


def _response_format(value: object) -> tuple[str, dict[str, Any] | None]:
    if value is None:
        return "text", None
    kind = value.get("type") if isinstance(value, dict) else None
    if not isinstance(value, dict) or kind not in ("text", "json_object", "json_schema"):
        raise invalid_request(
            "Invalid value for 'response_format.type': expected 'text', 'json_object' or "
            "'json_schema'.",
            "response_format.type",
        )
    if kind != "json_schema":
        return str(kind), None
    spec = value.get("json_schema")
    if not isinstance(spec, dict):
        raise invalid_request(
            "Missing required parameter: 'response_format.json_schema'.",
            "response_format.json_schema",
        )
    name = spec.get("name")
    if not isinstance(name, str) or not _FUNCTION_NAME.match(name):
        raise invalid_request(
            "Invalid 'response_format.json_schema.name': expected letters, digits, underscores "
            "and dashes, at most 64 characters.",
            "response_format.json_schema.name",
        )
    schema = spec.get("schema")
    if schema is not None and not isinstance(schema, dict):
        raise invalid_request(
            "Invalid type for 'response_format.json_schema.schema': expected an object.",
            "response_format.json_schema.schema",
        )
    return "json_schema", schema


def _check_images(urls: tuple[str, ...], card: ModelCard) -> None:
    if not urls:
        return
    if any(not url.startswith("data:image/") for url in urls):
        raise invalid_request(
            "Image URLs must be base64 data URIs (data:image/...;base64,...); remote URLs "
            "are not supported.",
            "messages",
        )
    if len(urls) > MAX_IMAGES:
        raise invalid_request(
            f"At most {MAX_IMAGES} images per request are supported, got {len(urls)}.", "messages"
        )
    if not card.vision:
        raise invalid_request(f"{card.id} is not a multimodal model", "messages")


def _number(data: dict[str, Any], name: str, low: float, high: float) -> float | None:
    value = data.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise invalid_request(
            f"Invalid type for '{name}': expected a decimal, but got {value!r}.", name
        )
    if not low <= value <= high:
        raise invalid_request(
            f"Invalid '{name}': expected a value between {low:g} and {high:g}, "
            f"but got {value} instead.",
            name,
        )
    return float(value)


def integer_field(data: dict[str, Any], name: str, low: int, high: int | None) -> int | None:
    value = data.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise invalid_request(
            f"Invalid type for '{name}': expected an integer, but got {value!r}.", name
        )
    if value < low:
        raise invalid_request(
            f"Invalid '{name}': integer below minimum value. Expected a value >= {low}, "
            f"but got {value} instead.",
            name,
        )
    if high is not None and value > high:
        raise invalid_request(
            f"Invalid '{name}': integer above maximum value. Expected a value <= {high}, "
            f"but got {value} instead.",
            name,
        )
    return value


def boolean_field(data: dict[str, Any], name: str, *, default: bool) -> bool:
    value = data.get(name)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise invalid_request(
            f"Invalid type for '{name}': expected a boolean, but got {value!r}.", name
        )
    return value
