"""Token counts for spend: one ``Usage`` value, the upstream's when it can be trusted.

An upstream's ``usage`` is read, never obeyed: a count that is not a plain non-negative
integer below ``MAX_TOKENS`` (a string, a bool, a float, a negative or astronomical
number) makes the whole object unusable (``read_usage`` gives ``None``), and the row is
charged an estimate instead, a ``Usage`` marked ``estimated`` (the spend row's
``usage_estimated``). The client still gets the upstream's answer as it was sent. Each
endpoint says how its estimate is made (``tokenway.proxy.pipeline.endpoint``); a
stream's is the relay's (``tokenway.proxy.pipeline.relay``).
"""

from __future__ import annotations

from typing import Any, NamedTuple

# No model's window is near this; above it a count is a bug, and a store column or a
# budget must not take it (SQLite's INTEGER ends at 2**63, PostgreSQL's INTEGER at 2**31).
MAX_TOKENS = 100_000_000


class Usage(NamedTuple):
    """Tokens a call used (or is charged for, when ``estimated``)."""

    prompt: int
    completion: int
    estimated: bool = False

    @property
    def total(self) -> int:
        return self.prompt + self.completion

    def as_openai(self) -> dict[str, Any]:
        """The OpenAI ``usage`` object, with ``"estimated": true`` when it is an estimate."""
        usage: dict[str, Any] = {
            "prompt_tokens": self.prompt,
            "completion_tokens": self.completion,
            "total_tokens": self.prompt + self.completion,
        }
        if self.estimated:
            usage["estimated"] = True
        return usage


def read_usage(usage: object, completion: bool = True) -> Usage | None:
    """``usage`` if its counts are sane integers, else ``None``. ``completion=False`` is
    for answers without a completion (embeddings): a missing ``completion_tokens`` is 0.

    ``type(...) is int`` rather than ``isinstance``: a bool is an int to ``isinstance``."""
    if type(usage) is not dict:
        return None
    prompt = usage.get("prompt_tokens")
    completed = usage.get("completion_tokens")
    if completed is None and not completion:
        completed = 0
    if (
        type(prompt) is int
        and type(completed) is int
        and 0 <= prompt <= MAX_TOKENS
        and 0 <= completed <= MAX_TOKENS
    ):
        return Usage(prompt, completed)
    return None
