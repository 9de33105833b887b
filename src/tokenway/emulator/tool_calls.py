"""Which tools a reply calls, and with what arguments (checklist 11 and 16).

`tool_choice` `none` never calls; a named function is always called; `required` calls
at least one tool; `auto` calls one when the conversation ends with a user message.
The tool whose name and description share most words with the user's message goes
first; with `parallel_tool_calls` not false, the runner-up is called too when it also
shares a word ("weather in Paris and the time in Tokyo" → get_weather and get_time).
"""

from __future__ import annotations

import json
import random
import re
import secrets
import string
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .schema_values import Hints, find_places, value_for_schema
from .tokens import count_tokens
from .validate import ChatRequest

__all__ = ["ToolCall", "last_user_text", "new_tool_call_id", "plan_tool_calls"]

_ID_ALPHABET = string.ascii_letters + string.digits
_IGNORED_WORDS = frozenset({"get", "set", "the", "and", "for", "with", "from", "this", "that"})


@dataclass(frozen=True)
class ToolCall:
    id: str
    name: str
    arguments: str

    @property
    def tokens(self) -> int:
        return count_tokens(self.name) + count_tokens(self.arguments)


def plan_tool_calls(request: ChatRequest, rng: random.Random) -> list[ToolCall]:
    """The calls this reply makes; empty for a text reply."""
    if not _wants_call(request):
        return []
    user_text = last_user_text(request.messages)
    hints = Hints(user_text=user_text, places=find_places(user_text))
    return [
        ToolCall(new_tool_call_id(), function["name"], _arguments(function, rng, hints))
        for function in _chosen_functions(request, user_text)
    ]


def last_user_text(messages: Sequence[dict[str, Any]]) -> str:
    for message in reversed(messages):
        if message.get("role") == "user":
            content = message.get("content")
            if isinstance(content, str):
                return content
            return " ".join(
                part["text"] for part in content or () if isinstance(part.get("text"), str)
            )
    return ""


def new_tool_call_id() -> str:
    """OpenAI's shape: `call_` and 24 letters or digits."""
    return "call_" + "".join(secrets.choice(_ID_ALPHABET) for _ in range(24))


def _wants_call(request: ChatRequest) -> bool:
    if request.tool_choice in ("required", "named"):
        return True
    return request.tool_choice == "auto" and request.messages[-1].get("role") == "user"


def _chosen_functions(request: ChatRequest, user_text: str) -> list[dict[str, Any]]:
    functions = [tool["function"] for tool in request.tools]
    if request.forced_tool is not None:
        return [f for f in functions if f["name"] == request.forced_tool][:1]
    user_words = _words(user_text)
    scores = [len(_words(_describe(f)) & user_words) for f in functions]
    ranked = sorted(range(len(functions)), key=lambda i: -scores[i])
    chosen = [functions[ranked[0]]]
    if request.parallel_tool_calls and len(ranked) > 1 and scores[ranked[1]] > 0:
        chosen.append(functions[ranked[1]])
    return chosen


def _describe(function: dict[str, Any]) -> str:
    name = re.sub(r"(?<=[a-z])(?=[A-Z])", " ", str(function["name"]))
    return f"{name} {function.get('description') or ''}"


def _words(text: str) -> set[str]:
    words = re.split(r"[^a-z0-9]+", text.lower())
    return {word for word in words if len(word) >= 3 and word not in _IGNORED_WORDS}


def _arguments(function: dict[str, Any], rng: random.Random, hints: Hints) -> str:
    parameters = function.get("parameters") or {"type": "object", "properties": {}}
    value = value_for_schema(parameters, rng, hints)
    return json.dumps(value, ensure_ascii=False)
