"""OpenAI chat-completion parameters: checked before anything reaches the network.

``validate_chat_body`` is shared by the SDK and the proxy, so both reject the same
mistakes with the same message, naming the parameter at fault.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from tokenway.errors import BadRequestError

MESSAGE_ROLES = frozenset({"system", "developer", "user", "assistant", "tool", "function"})
TOOL_CHOICE_MODES = frozenset({"none", "auto", "required"})
RESPONSE_FORMAT_TYPES = frozenset({"text", "json_object", "json_schema"})
_FUNCTION_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")

_MAX_TOKENS = 2**31 - 1  # no context window comes near; upstreams parse these as int32
_INT64 = 2**63  # seeds are 64-bit signed integers upstream
# Longer than any provider's model id (with its prefix); the proxy echoes the alias in a
# header and in a 404's message, so a megabyte of "model" must stop here.
MAX_MODEL_NAME = 256

# name -> (min, max, integer?) for the numeric knobs; every one bounded on both sides, so
# what is forwarded is what an upstream can parse (JSON itself allows any size).
_RANGES: dict[str, tuple[float, float, bool]] = {
    "temperature": (0.0, 2.0, False),
    "top_p": (0.0, 1.0, False),
    "frequency_penalty": (-2.0, 2.0, False),
    "presence_penalty": (-2.0, 2.0, False),
    "n": (1, 128, True),  # OpenAI's documented maximum
    "max_tokens": (1, _MAX_TOKENS, True),
    "max_completion_tokens": (1, _MAX_TOKENS, True),
    "seed": (-_INT64, _INT64 - 1, True),
    "top_logprobs": (0, 20, True),
}


def bad_param(param: str, message: str) -> BadRequestError:
    return BadRequestError(message, param=param, code="invalid_value")


def validate_chat_body(body: Mapping[str, Any]) -> None:
    """Raise ``BadRequestError`` naming the first parameter that is missing or wrong."""
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise bad_param("model", "'model' is required and must be a non-empty string")
    if len(model) > MAX_MODEL_NAME:
        raise bad_param("model", f"'model' is longer than {MAX_MODEL_NAME} characters")
    validate_messages(body.get("messages"))
    # Walk the body's few keys rather than every known parameter.
    for name, value in body.items():
        spec = _RANGES.get(name)
        if spec is not None and value is not None:
            _check_number(name, value, *spec)
    for name, value in body.items():
        check = _OTHER_CHECKS.get(name)
        if check is not None and value is not None:
            check(value, body)


def validate_messages(messages: Any) -> None:
    """Type-check what the proxy and the SDK read of each message.

    A message of only ``role`` and string ``content`` (most of them) costs two lookups and
    three type tests; anything else it carries is checked only when present.
    """
    if not isinstance(messages, list) or not messages:
        raise bad_param("messages", "'messages' must be a non-empty array of message objects")
    for i, message in enumerate(messages):
        if not isinstance(message, dict):
            raise _bad_message(i, "", "must be an object with 'role' and 'content'")
        role = message.get("role")
        # The str test first: a list or object role is unhashable, so `in` would raise.
        if not isinstance(role, str) or role not in MESSAGE_ROLES:
            roles = ", ".join(sorted(MESSAGE_ROLES))
            raise _bad_message(i, ".role", f"must be one of: {roles}; got {_shown(role)}")
        content = message.get("content")
        if isinstance(content, list):
            _check_parts(i, content)
        elif content is None:
            if role != "assistant" or not (
                message.get("tool_calls") or message.get("function_call")
            ):
                raise _bad_message(i, ".content", f"is required for role {role!r}")
        elif not isinstance(content, str):
            raise _bad_message(i, ".content", "must be a string or an array of content parts")
        if len(message) > 2 or role == "tool":
            _check_message_extras(i, message, role)


def _check_parts(i: int, parts: list[Any]) -> None:
    """Content parts: objects with a string ``type``; the kinds the proxy reads, in full."""
    for j, part in enumerate(parts):
        kind = part.get("type") if isinstance(part, dict) else None
        if not isinstance(kind, str):
            if not isinstance(part, dict):
                raise _bad_message(i, f".content[{j}]", "must be an object with a 'type'")
            raise _bad_message(i, f".content[{j}].type", "must be a string such as 'text'")
        if kind == "text":
            if not isinstance(part.get("text"), str):
                raise _bad_message(i, f".content[{j}].text", "must be a string")
        elif kind == "image_url":
            image = part.get("image_url")
            url = image.get("url") if isinstance(image, dict) else image
            if not isinstance(url, str):
                raise _bad_message(
                    i, f".content[{j}].image_url", "must be a URL or an object with a 'url' string"
                )


def _check_message_extras(i: int, message: dict[str, Any], role: str) -> None:
    """``name``, ``tool_calls``, ``function_call`` and ``tool_call_id``, when present."""
    name = message.get("name")
    if name is not None and not isinstance(name, str):
        raise _bad_message(i, ".name", "must be a string")
    tool_calls = message.get("tool_calls")
    if tool_calls is not None:
        _check_tool_calls(i, tool_calls)
    function_call = message.get("function_call")
    if function_call is not None and not isinstance(function_call, dict):
        raise _bad_message(i, ".function_call", "must be an object with 'name' and 'arguments'")
    if role == "tool" and not isinstance(message.get("tool_call_id"), str):
        where = f"messages[{i}]"
        raise bad_param(f"{where}.tool_call_id", f"{where} (role 'tool') needs 'tool_call_id'")


def _check_tool_calls(i: int, tool_calls: Any) -> None:
    if not isinstance(tool_calls, list):
        raise _bad_message(i, ".tool_calls", "must be an array of tool call objects")
    for j, call in enumerate(tool_calls):
        function = call.get("function") if isinstance(call, dict) else None
        if not isinstance(function, dict):
            raise _bad_message(
                i, f".tool_calls[{j}].function", "must be an object with 'name' and 'arguments'"
            )
        for field in ("name", "arguments"):
            if not isinstance(function.get(field), str):
                raise _bad_message(i, f".tool_calls[{j}].function.{field}", "must be a string")


def _shown(value: Any) -> str:
    """A wrong value as an error message shows it: its repr, cut short."""
    text = repr(value)
    return text if len(text) <= 80 else f"{text[:77]}..."


def _bad_message(i: int, field: str, problem: str) -> BadRequestError:
    """The error for ``messages[i]``; built only on the error path (f-strings cost)."""
    param = f"messages[{i}]{field}"
    return bad_param(param, f"{param} {problem}")


def _check_number(name: str, value: Any, low: float, high: float, integer: bool) -> None:
    kinds = (int,) if integer else (int, float)
    if isinstance(value, bool) or not isinstance(value, kinds):
        if integer and isinstance(value, float) and value.is_integer():  # 5.0: JSON's integer
            return _check_number(name, int(value), low, high, integer)
        kind = "an integer" if integer else "a number"
        raise bad_param(name, f"'{name}' must be {kind}; got {_shown(value)}")
    if not low <= value <= high:
        raise bad_param(name, f"'{name}' must be between {low} and {high}; got {_shown(value)}")


def _check_stop(value: Any, _body: Mapping[str, Any]) -> None:
    if isinstance(value, str):
        return
    if not isinstance(value, list) or not all(isinstance(s, str) for s in value) or len(value) > 4:
        raise bad_param("stop", "'stop' must be a string or an array of up to 4 strings")


def _check_tools(value: Any, _body: Mapping[str, Any]) -> None:
    if not isinstance(value, list):
        raise bad_param("tools", "'tools' must be an array of tool objects")
    for i, tool in enumerate(value):
        where = f"tools[{i}]"
        if not isinstance(tool, dict) or tool.get("type", "function") != "function":
            raise bad_param(where, f'{where} must be {{"type": "function", "function": {{...}}}}')
        function = tool.get("function")
        if not isinstance(function, dict):
            raise bad_param(f"{where}.function", f"{where}.function must be an object")
        name = function.get("name")
        if not isinstance(name, str) or not _FUNCTION_NAME.match(name):
            raise bad_param(
                f"{where}.function.name",
                f"{where}.function.name must be 1-64 letters, digits, '_' or '-'; "
                f"got {_shown(name)}",
            )
        parameters = function.get("parameters")
        if parameters is not None and not isinstance(parameters, dict):
            raise bad_param(
                f"{where}.function.parameters",
                f"{where}.function.parameters must be a JSON Schema object",
            )


def _check_tool_choice(value: Any, body: Mapping[str, Any]) -> None:
    tools = body.get("tools")
    if tools is not None:  # checked first, whatever the body's order: read below
        _check_tools(tools, body)
    if isinstance(value, str):
        if value not in TOOL_CHOICE_MODES:
            raise bad_param(
                "tool_choice",
                f"'tool_choice' must be none, auto, required or an object; got {_shown(value)}",
            )
        if value == "required" and not body.get("tools"):
            raise bad_param("tool_choice", "'tool_choice' is 'required' but no 'tools' were given")
        return
    function = value.get("function") if isinstance(value, dict) else None
    if not isinstance(function, dict) or not isinstance(function.get("name"), str):
        raise bad_param(
            "tool_choice",
            '\'tool_choice\' object must be {"type": "function", "function": {"name": ...}}',
        )
    names = {tool["function"]["name"] for tool in tools or ()}  # shapes checked above
    if function["name"] not in names:
        raise bad_param(
            "tool_choice",
            f"'tool_choice' names {_shown(function['name'])}, which is not in 'tools'",
        )


def _check_response_format(value: Any, _body: Mapping[str, Any]) -> None:
    if not isinstance(value, dict):
        raise bad_param("response_format", "'response_format' must be an object with a 'type'")
    kind = value.get("type")
    # The str test first: a list is unhashable, so `in` would raise.
    if not isinstance(kind, str) or kind not in RESPONSE_FORMAT_TYPES:
        raise bad_param(
            "response_format.type",
            "'response_format.type' must be text, json_object or json_schema",
        )
    if kind == "json_schema":
        spec = value.get("json_schema")
        if not isinstance(spec, dict) or not isinstance(spec.get("name"), str):
            raise bad_param(
                "response_format.json_schema",
                "'response_format.json_schema' must be an object with 'name' and 'schema'",
            )
        if not isinstance(spec.get("schema", {}), dict):
            raise bad_param(
                "response_format.json_schema.schema", "'schema' must be a JSON Schema object"
            )


def _check_stream_options(value: Any, body: Mapping[str, Any]) -> None:
    if not isinstance(value, dict):
        raise bad_param("stream_options", "'stream_options' must be an object")
    if not body.get("stream"):
        raise bad_param("stream_options", "'stream_options' is only allowed when 'stream' is true")
    wants_usage = value.get("include_usage")
    if wants_usage is not None and not isinstance(wants_usage, bool):  # "no" is truthy
        raise bad_param(
            "stream_options.include_usage",
            f"'stream_options.include_usage' must be true or false; got {_shown(wants_usage)}",
        )


def _check_bool(name: str) -> Callable[[Any, Mapping[str, Any]], None]:
    def check(value: Any, _body: Mapping[str, Any]) -> None:
        if not isinstance(value, bool):
            raise bad_param(name, f"'{name}' must be true or false; got {_shown(value)}")

    return check


def _check_string(name: str) -> Callable[[Any, Mapping[str, Any]], None]:
    def check(value: Any, _body: Mapping[str, Any]) -> None:
        if not isinstance(value, str):
            raise bad_param(name, f"'{name}' must be a string")

    return check


def _check_metadata(value: Any, _body: Mapping[str, Any]) -> None:
    if not isinstance(value, dict):
        raise bad_param("metadata", "'metadata' must be an object")


_OTHER_CHECKS: dict[str, Callable[[Any, Mapping[str, Any]], None]] = {
    "stream": _check_bool("stream"),
    "stop": _check_stop,
    "tools": _check_tools,
    "tool_choice": _check_tool_choice,
    "response_format": _check_response_format,
    "stream_options": _check_stream_options,
    "user": _check_string("user"),
    "metadata": _check_metadata,
    "parallel_tool_calls": _check_bool("parallel_tool_calls"),
    "logprobs": _check_bool("logprobs"),
}


def check_knobs(body: Mapping[str, Any], skip: frozenset[str] = frozenset()) -> None:
    """The chat checks of the knobs other endpoints share (temperature, stop, user, ...).

    ``skip`` names parameters an endpoint means differently (the legacy API's integer
    ``logprobs``) and checks itself.
    """
    for name, value in body.items():
        if value is None or name in skip:
            continue
        spec = _RANGES.get(name)
        if spec is not None:
            _check_number(name, value, *spec)
        check = _OTHER_CHECKS.get(name)
        if check is not None:
            check(value, body)


def check_integer(body: Mapping[str, Any], name: str, low: int, high: int) -> None:
    value = body.get(name)
    if value is not None:
        _check_number(name, value, low, high, True)


def check_type(body: Mapping[str, Any], name: str, kind: type, what: str) -> None:
    value = body.get(name)
    # bool is an int subclass: True is no dimension count.
    if value is not None and (
        not isinstance(value, kind) or (kind is not bool and isinstance(value, bool))
    ):
        raise bad_param(name, f"'{name}' must be {what}; got {_shown(value)}")


def check_model(model: Any) -> None:
    if not isinstance(model, str) or not model:
        raise bad_param("model", "'model' is required and must be a non-empty string")
    if len(model) > MAX_MODEL_NAME:
        raise bad_param("model", f"'model' is longer than {MAX_MODEL_NAME} characters")
