"""`POST /v1/completions`, the legacy text API (reference §1-2: served, OpenAI shapes).

A prompt is a string, an array of strings, a token array or an array of token
arrays; every prompt gets `n` choices, indexed prompt by prompt as OpenAI does.
Text is the chat generator's prose, cut by `stop` and `max_tokens` the same way;
`max_tokens` defaults to 16 (OpenAI's and vLLM's default for this API). `echo`
puts a string prompt before its text; a token-array prompt echoes nothing, the
emulator having no vocabulary. Streams are `text_completion` chunks: text pieces,
a closing chunk with `text: ""` and the finish reason per choice, then the usage
chunk (`choices: []`) with `stream_options.include_usage`.
"""

from __future__ import annotations

import hashlib
import random
import secrets
import time
from dataclasses import dataclass
from typing import Any

import orjson

from .catalog import CHAT, ModelCard
from .errors import context_length_exceeded, invalid_request
from .generate import apply_stop_and_limit
from .prose import write_prose
from .responses import content_pieces, interleave
from .tokens import count_tokens
from .validate import (
    MAX_CHOICES,
    boolean_field,
    check_sampling,
    decode_body,
    include_usage_of,
    integer_field,
    model_for,
    stop_strings,
)

__all__ = [
    "DEFAULT_MAX_TOKENS",
    "TextChoice",
    "TextCompletion",
    "TextRequest",
    "generate_text",
    "parse_text_request",
    "text_body",
    "text_chunks",
]

DEFAULT_MAX_TOKENS = 16
# Length of the text before `max_tokens` cuts it, as for chat: "some tens of tokens".
_TEXT_TOKENS = (16, 64)
MAX_PROMPTS = 2048
_PROMPT_HELP = "expected a string, an array of strings, or an array of token arrays"


@dataclass(frozen=True)
class TextRequest:
    model: str
    prompts: tuple[str | tuple[int, ...], ...]
    max_tokens: int = DEFAULT_MAX_TOKENS
    n: int = 1
    stop: tuple[str, ...] = ()
    seed: int | None = None
    echo: bool = False
    stream: bool = False
    include_usage: bool = False


@dataclass(frozen=True)
class TextChoice:
    index: int
    text: str
    finish_reason: str


@dataclass(frozen=True)
class TextCompletion:
    id: str
    created: int
    model: str
    choices: tuple[TextChoice, ...]
    usage: dict[str, int]


def parse_text_request(body: bytes) -> TextRequest:
    data = decode_body(body)
    model = data.get("model")
    if not isinstance(model, str) or not model:
        raise invalid_request("You must provide a model parameter.", "model")
    check_sampling(data)
    stream = boolean_field(data, "stream", default=False)
    return TextRequest(
        model=model,
        prompts=_prompts(data.get("prompt")),
        max_tokens=integer_field(data, "max_tokens", 1, None) or DEFAULT_MAX_TOKENS,
        n=integer_field(data, "n", 1, MAX_CHOICES) or 1,
        stop=stop_strings(data.get("stop")),
        seed=integer_field(data, "seed", -(2**63), 2**64 - 1),
        echo=boolean_field(data, "echo", default=False),
        stream=stream,
        include_usage=include_usage_of(data.get("stream_options"), stream),
    )


def generate_text(request: TextRequest, max_output_tokens: int | None) -> TextCompletion:
    """The completion, once the request fits its model; raises `ApiError` otherwise."""
    card = model_for(request.model, CHAT)
    counts = [_token_count(prompt) for prompt in request.prompts]
    _check_lengths(card, counts, request.max_tokens, max_output_tokens)
    choices: list[TextChoice] = []
    completion_tokens = 0
    for position, prompt in enumerate(request.prompts):
        for draw in range(request.n):
            rng = _rng(request, prompt, draw)
            draft = " " + write_prose(rng, rng.randint(*_TEXT_TOKENS))
            text, finish = apply_stop_and_limit(draft, request.stop, request.max_tokens)
            completion_tokens += count_tokens(text)
            if request.echo and isinstance(prompt, str):
                text = prompt + text
            choices.append(TextChoice(position * request.n + draw, text, finish))
    prompt_tokens = sum(counts)
    usage = {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    }
    return TextCompletion(
        f"cmpl-{secrets.token_hex(16)}", int(time.time()), request.model, tuple(choices), usage
    )


def text_body(completion: TextCompletion) -> dict[str, Any]:
    return {
        **_envelope(completion),
        "choices": [
            _choice(choice.index, choice.text, choice.finish_reason)
            for choice in completion.choices
        ],
        "usage": completion.usage,
        "system_fingerprint": None,
    }


def text_chunks(completion: TextCompletion, *, include_usage: bool) -> list[dict[str, Any]]:
    """Every chunk of the stream, in order, `[DONE]` excluded."""
    per_choice = []
    for choice in completion.choices:
        rng = random.Random(f"{choice.index}:{choice.text}")
        steps = [_choice(choice.index, piece, None) for piece in content_pieces(choice.text, rng)]
        per_choice.append([*steps, _choice(choice.index, "", choice.finish_reason)])
    envelope = _envelope(completion)
    chunks = [{**envelope, "choices": [step]} for step in interleave(per_choice)]
    if include_usage:
        chunks.append({**envelope, "choices": [], "usage": completion.usage})
    return chunks


def _prompts(value: object) -> tuple[str | tuple[int, ...], ...]:
    if isinstance(value, str):
        return (value,)
    if not isinstance(value, list) or not value:
        raise invalid_request(f"Invalid 'prompt': {_PROMPT_HELP}.", "prompt")
    if all(_is_token(item) for item in value):
        return (tuple(value),)
    if len(value) > MAX_PROMPTS:
        raise invalid_request(
            f"Invalid 'prompt': array too long. Expected at most {MAX_PROMPTS} items, "
            f"but got {len(value)} instead.",
            "prompt",
        )
    prompts: list[str | tuple[int, ...]] = []
    for index, item in enumerate(value):
        if isinstance(item, str):
            prompts.append(item)
        elif isinstance(item, list) and item and all(_is_token(t) for t in item):
            prompts.append(tuple(item))
        else:
            raise invalid_request(f"Invalid 'prompt[{index}]': {_PROMPT_HELP}.", "prompt")
    return tuple(prompts)


def _is_token(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _token_count(prompt: str | tuple[int, ...]) -> int:
    return count_tokens(prompt) if isinstance(prompt, str) else len(prompt)


def _check_lengths(
    card: ModelCard, counts: list[int], max_tokens: int, max_output_tokens: int | None
) -> None:
    if max_output_tokens is not None and max_tokens > max_output_tokens:
        raise invalid_request(
            f"max_tokens is too large: {max_tokens}. This model supports at most "
            f"{max_output_tokens} completion tokens.",
            "max_tokens",
        )
    for count in counts:
        if count + max_tokens > card.context_window:
            raise context_length_exceeded(card.context_window, count, max_tokens, "prompt")


def _rng(request: TextRequest, prompt: str | tuple[int, ...], draw: int) -> random.Random:
    material = orjson.dumps([request.model, prompt, request.seed, draw])
    return random.Random(hashlib.sha256(material).digest())


def _envelope(completion: TextCompletion) -> dict[str, Any]:
    return {
        "id": completion.id,
        "object": "text_completion",
        "created": completion.created,
        "model": completion.model,
    }


def _choice(index: int, text: str, finish_reason: str | None) -> dict[str, Any]:
    return {"index": index, "text": text, "logprobs": None, "finish_reason": finish_reason}
