"""``text_completion()``: OpenAI's legacy ``POST /completions`` through the SDK's machinery.

Prepared like a chat call (provider prefix, key, base URL, supported parameters and
``drop_params``) and sent, paced, retried and streamed by the same ``Client``. ``prompt``
is a string, a list of strings, a token array or a list of token arrays; each prompt
gets ``n`` choices. The answer is a ``TextCompletion`` (``choices[i].text``, ``usage``,
``cost``); ``stream=True`` gives a ``TextCompletionStream`` (``AsyncTextCompletionStream``)
of ``TextCompletionChunk`` objects, with ``usage`` and ``cost`` once it ends, as chat's.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from tokenway.catalog import Catalog
from tokenway.params import bad_param, check_integer, check_knobs, check_model, check_type
from tokenway.providers.base import TEXT_COMPLETIONS_PATH
from tokenway.request import CallKind, CallKnobs, PreparedCall, prepare_endpoint
from tokenway.types import TextCompletion, TextCompletionChunk

__all__ = ["TEXT_COMPLETION", "TextCompletionParams", "prepare_text_completion"]

TEXT_COMPLETION = CallKind(
    "text_completion", TEXT_COMPLETIONS_PATH, "choices", TextCompletion, TextCompletionChunk
)

MAX_PROMPTS = 2048
_PROMPT_HELP = "a string, a list of strings, a token array or a list of token arrays"
# The legacy API's logprobs is an integer (how many alternatives), not chat's boolean.
_OWN_CHECKS = frozenset({"logprobs", "echo", "best_of", "suffix"})


class TextCompletionParams(CallKnobs, total=False):
    """Everything ``text_completion()`` takes besides ``prompt``, ``model`` and ``stream``."""

    max_tokens: int
    temperature: float
    top_p: float
    n: int
    stop: str | list[str]
    frequency_penalty: float
    presence_penalty: float
    seed: int
    user: str
    echo: bool
    logprobs: int
    best_of: int
    suffix: str
    logit_bias: dict[str, float]
    metadata: dict[str, Any]
    stream_options: dict[str, Any]


def prepare_text_completion(
    model: str,
    prompt: Any,
    params: Mapping[str, Any],
    *,
    catalog: Catalog,
    drop_params: bool,
    env: Mapping[str, str] = os.environ,
) -> PreparedCall:
    return prepare_endpoint(
        model, "prompt", prompt, params, TEXT_COMPLETION,
        lambda spec: spec.text_completion_params, validate_text_body,
        catalog=catalog, drop_params=drop_params, env=env,
    )  # fmt: skip


def validate_text_body(body: Mapping[str, Any]) -> None:
    """Raise ``BadRequestError`` naming the first parameter that is missing or wrong."""
    check_model(body.get("model"))
    _check_prompt(body.get("prompt"))
    check_knobs(body, skip=_OWN_CHECKS)
    check_integer(body, "logprobs", 0, 5)  # OpenAI's documented maximum
    check_integer(body, "best_of", 1, 20)
    check_type(body, "echo", bool, "true or false")
    check_type(body, "suffix", str, "a string")


def _check_prompt(value: Any) -> None:
    if isinstance(value, str):
        return  # "" is a valid prompt: the model starts from nothing
    if not isinstance(value, list) or not value:
        raise bad_param("prompt", f"'prompt' must be {_PROMPT_HELP}")
    if all(_is_token(t) for t in value):
        return  # one token array
    if len(value) > MAX_PROMPTS:
        raise bad_param("prompt", f"'prompt' has {len(value)} items; at most {MAX_PROMPTS}")
    for i, item in enumerate(value):
        tokens = isinstance(item, list) and bool(item) and all(_is_token(t) for t in item)
        if not isinstance(item, str) and not tokens:
            raise bad_param(f"prompt[{i}]", f"'prompt[{i}]' must be a string or a token array")


def _is_token(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0
