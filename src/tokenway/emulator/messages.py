"""Validation of the `messages` of a chat request (OpenAI shapes, reference §4 and §7)."""

from __future__ import annotations

from typing import Any

from .errors import invalid_request

__all__ = ["ROLES", "validate_messages"]

ROLES = ("system", "user", "assistant", "tool", "developer")
_TEXT_ONLY_ROLES = ("system", "developer", "tool")


def validate_messages(value: object) -> tuple[list[dict[str, Any]], tuple[str, ...]]:
    """The messages, and the URLs of every image they carry; raises `ApiError` on a bad shape."""
    if not isinstance(value, list):
        raise invalid_request(
            f"Invalid type for 'messages': expected an array, got {_kind(value)}.", "messages"
        )
    if not value:
        raise invalid_request(
            "Invalid 'messages': empty array. Expected at least one message.", "messages"
        )
    image_urls: list[str] = []
    for index, message in enumerate(value):
        image_urls.extend(_validate_message(message, f"messages[{index}]"))
    return value, tuple(image_urls)


def _validate_message(message: object, where: str) -> list[str]:
    if not isinstance(message, dict):
        raise invalid_request(
            f"Invalid type for '{where}': expected an object, got {_kind(message)}.", where
        )
    role = message.get("role")
    if role not in ROLES:
        expected = ", ".join(f"'{name}'" for name in ROLES)
        raise invalid_request(
            f"Invalid value for '{where}.role': {role!r}. Supported values are: {expected}.",
            f"{where}.role",
        )
    _check_optional_string(message, "name", where)
    tool_calls = message.get("tool_calls")
    if tool_calls is not None:
        _validate_tool_calls(tool_calls, role, where)
    if role == "tool" and not isinstance(message.get("tool_call_id"), str):
        raise invalid_request(
            f"Missing required parameter: '{where}.tool_call_id'.", f"{where}.tool_call_id"
        )
    content = message.get("content")
    if content is None:
        if role == "assistant" and tool_calls:
            return []
        raise invalid_request(f"Missing required parameter: '{where}.content'.", f"{where}.content")
    return _validate_content(content, role, f"{where}.content")


def _validate_content(content: object, role: str, where: str) -> list[str]:
    if isinstance(content, str):
        return []
    if not isinstance(content, list) or not content:
        raise invalid_request(
            f"Invalid '{where}': expected a string or a non-empty array of content parts.", where
        )
    urls: list[str] = []
    for index, part in enumerate(content):
        url = _validate_part(part, role, f"{where}[{index}]")
        if url is not None:
            urls.append(url)
    return urls


def _validate_part(part: object, role: str, where: str) -> str | None:
    """The image URL of an image part, None for a text part."""
    if not isinstance(part, dict):
        raise invalid_request(f"Invalid type for '{where}': expected an object.", where)
    kind = part.get("type")
    if kind == "text":
        if not isinstance(part.get("text"), str):
            raise invalid_request(f"Missing required parameter: '{where}.text'.", f"{where}.text")
        return None
    if kind == "refusal" and role == "assistant" and isinstance(part.get("refusal"), str):
        return None
    if kind == "image_url" and role not in _TEXT_ONLY_ROLES and role != "assistant":
        image = part.get("image_url")
        if not isinstance(image, dict) or not isinstance(image.get("url"), str):
            raise invalid_request(
                f"Missing required parameter: '{where}.image_url.url'.", f"{where}.image_url.url"
            )
        return str(image["url"])
    raise invalid_request(
        f"Invalid value for '{where}.type': {kind!r} is not supported in a {role} message.",
        f"{where}.type",
    )


def _validate_tool_calls(tool_calls: object, role: str, where: str) -> None:
    param = f"{where}.tool_calls"
    if role != "assistant":
        raise invalid_request(
            f"Invalid '{param}': only assistant messages carry tool calls.", param
        )
    if not isinstance(tool_calls, list):
        raise invalid_request(f"Invalid type for '{param}': expected an array.", param)
    for index, call in enumerate(tool_calls):
        call_where = f"{param}[{index}]"
        function = call.get("function") if isinstance(call, dict) else None
        if not isinstance(call, dict) or not isinstance(call.get("id"), str):
            raise invalid_request(
                f"Missing required parameter: '{call_where}.id'.", f"{call_where}.id"
            )
        if call.get("type", "function") != "function":
            raise invalid_request(f"Invalid value for '{call_where}.type'.", f"{call_where}.type")
        if not isinstance(function, dict) or not isinstance(function.get("name"), str):
            raise invalid_request(
                f"Missing required parameter: '{call_where}.function.name'.",
                f"{call_where}.function.name",
            )
        if not isinstance(function.get("arguments"), str):
            raise invalid_request(
                f"Missing required parameter: '{call_where}.function.arguments'.",
                f"{call_where}.function.arguments",
            )


def _check_optional_string(message: dict[str, Any], name: str, where: str) -> None:
    if name in message and message[name] is not None and not isinstance(message[name], str):
        raise invalid_request(
            f"Invalid type for '{where}.{name}': expected a string.", f"{where}.{name}"
        )


def _kind(value: object) -> str:
    names = {dict: "an object", list: "an array", str: "a string", bool: "a boolean"}
    if value is None:
        return "null"
    return names.get(type(value), "a number" if isinstance(value, int | float) else "a value")
