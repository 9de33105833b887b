"""``POST /v1/completions``: OpenAI's legacy text API through the pipeline, streamed or not.

``prompt`` is a string, a list of strings, a token array or a list of token arrays; each
choice's ``text`` is the answer (llama-index's ``OpenAILike`` calls this by default).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tokenway.providers.base import TEXT_COMPLETIONS_PATH
from tokenway.proxy.pipeline.endpoint import Endpoint
from tokenway.text import validate_text_body
from tokenway.tokens import input_floor, input_likely, text_likely


def answer_tokens(answer: Mapping[str, Any]) -> int:
    """The completion tokens of an answer, from its choices' text."""
    choices = answer.get("choices")
    text = "".join(
        c["text"]
        for c in (choices if isinstance(choices, list) else ())
        if isinstance(c, dict) and isinstance(c.get("text"), str)
    )
    return text_likely(text)


COMPLETIONS = Endpoint(
    name="completions",
    paths=("/v1/completions", "/completions"),
    upstream_path=TEXT_COMPLETIONS_PATH,
    required="choices",
    validate=validate_text_body,
    prompt_floor=lambda body: input_floor(body["prompt"]),
    prompt_likely=lambda body: input_likely(body["prompt"]),
    answer_tokens=answer_tokens,
    streams=True,
    chunk_object="text_completion",
)
