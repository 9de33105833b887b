"""Spend capture: every finished call's usage and cost, recorded off the response path.

This in-memory recorder is the seam the spend journal and the stores plug into; it
keeps running totals per model alias and per key hash.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class SpendEvent:
    request_id: str
    alias: str
    model: str
    key_hash: str | None
    prompt_tokens: int
    completion_tokens: int
    cost: float | None
    stream: bool


class SpendRecorder:
    def __init__(self, keep_last: int = 1000) -> None:
        self.cost_by_alias: dict[str, float] = defaultdict(float)
        self.tokens_by_alias: dict[str, int] = defaultdict(int)
        self.calls = 0
        self.calls_without_usage = 0
        self.recent: list[SpendEvent] = []
        self._keep_last = keep_last

    def record(self, event: SpendEvent) -> None:
        self.calls += 1
        self.cost_by_alias[event.alias] += event.cost or 0.0
        self.tokens_by_alias[event.alias] += event.prompt_tokens + event.completion_tokens
        self.recent.append(event)
        if len(self.recent) > self._keep_last * 2:
            del self.recent[: -self._keep_last]

    def record_missing_usage(self) -> None:
        self.calls_without_usage += 1
