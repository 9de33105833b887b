"""A completion for a valid chat request, deterministic given model, messages, seed and choice.

Each choice draws from its own `random.Random`, seeded from the request's model,
messages, `seed` (absent counts as a value too) and the choice index, so identical
requests give identical text and usage, streamed or not (checklist 6, 10, 17).
"""

from __future__ import annotations

import hashlib
import json
import random
import secrets
import time
from dataclasses import dataclass

import orjson

from .catalog import ModelCard
from .prose import write_prose
from .schema_values import Hints, find_places, value_for_schema
from .tokens import count_tokens, cut_after_tokens
from .tool_calls import ToolCall, last_user_text, plan_tool_calls
from .validate import ChatRequest

__all__ = ["Choice", "Completion", "apply_stop_and_limit", "choice_rng", "generate_completion"]

# Text length when nothing caps it: "some tens of tokens".
_MIN_TEXT_TOKENS = 16
_MAX_TEXT_TOKENS = 64
_JSON_OBJECT_SCHEMA = {
    "type": "object",
    "properties": {
        "answer": {"type": "string"},
        "confidence": {"type": "number", "minimum": 0, "maximum": 1},
    },
    "required": ["answer", "confidence"],
}


@dataclass(frozen=True)
class Choice:
    index: int
    content: str | None
    tool_calls: tuple[ToolCall, ...]
    finish_reason: str
    completion_tokens: int


@dataclass(frozen=True)
class Completion:
    id: str
    created: int
    model: str
    choices: tuple[Choice, ...]
    prompt_tokens: int

    @property
    def completion_tokens(self) -> int:
        return sum(choice.completion_tokens for choice in self.choices)

    def usage(self) -> dict[str, int]:
        return {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "total_tokens": self.prompt_tokens + self.completion_tokens,
        }


def generate_completion(request: ChatRequest, card: ModelCard) -> Completion:
    # vLLM: an omitted max_tokens means "the rest of the context window".
    limit = request.max_tokens
    if limit is None:
        limit = max(card.context_window - request.prompt_tokens, 0)
    choices = tuple(_generate_choice(request, index, limit) for index in range(request.n))
    return Completion(
        id=f"chatcmpl-{secrets.token_hex(16)}",
        created=int(time.time()),
        model=request.model,
        choices=choices,
        prompt_tokens=request.prompt_tokens,
    )


def choice_rng(request: ChatRequest, index: int) -> random.Random:
    material = orjson.dumps(
        [request.model, request.messages, request.seed, index], option=orjson.OPT_SORT_KEYS
    )
    return random.Random(hashlib.sha256(material).digest())


def apply_stop_and_limit(text: str, stop: tuple[str, ...], limit: int) -> tuple[str, str]:
    """(content, finish_reason): cut before the first stop string, or after `limit` tokens."""
    allowed = cut_after_tokens(text, limit)
    hits = [(text.find(s), s) for s in stop if s in text]
    if hits:
        position, found = min(hits)
        if position + len(found) <= len(allowed):
            return text[:position], "stop"
    if len(allowed) < len(text):
        return allowed, "length"
    return text, "stop"


def _generate_choice(request: ChatRequest, index: int, limit: int) -> Choice:
    rng = choice_rng(request, index)
    calls = plan_tool_calls(request, rng)
    tool_tokens = sum(call.tokens for call in calls)
    if calls and tool_tokens <= limit:
        return Choice(index, None, tuple(calls), "tool_calls", tool_tokens)
    content, finish = apply_stop_and_limit(_draft(request, rng), request.stop, limit)
    return Choice(index, content, (), finish, count_tokens(content))


def _draft(request: ChatRequest, rng: random.Random) -> str:
    """What the model would say with no stop strings and no length cap."""
    if request.response_kind == "text":
        return write_prose(rng, rng.randint(_MIN_TEXT_TOKENS, _MAX_TEXT_TOKENS))
    schema = request.response_schema
    if request.response_kind == "json_object" or schema is None:
        schema = _JSON_OBJECT_SCHEMA
    user_text = last_user_text(request.messages)
    hints = Hints(user_text=user_text, places=find_places(user_text))
    return json.dumps(value_for_schema(schema, rng, hints), ensure_ascii=False)
