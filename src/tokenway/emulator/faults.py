"""Fault injection: added latency, error answers, hangs and broken streams (checklist 14).

A `FaultPlan` is a `FaultConfig` plus what it has used up (the `fail_first_n` count
and its random draws). The emulator holds one for its current faults; a request's
`x-emulator-fault` header gets a plan of its own, remembered by the header's text, so
a client retrying with the same header sees `fail_first_n` count down.
"""

from __future__ import annotations

import asyncio
import random
from collections import OrderedDict
from collections.abc import AsyncIterator, Sequence
from typing import Any

import orjson

from .config import FaultConfig
from .errors import ApiError, error_body, html_error_page, invalid_request
from .responses import DONE_FRAME, error_frame, sse_frame

__all__ = ["FAULT_HEADER", "FaultPlan", "HeaderPlans", "StreamCut", "faulty_sse", "injected_error"]

FAULT_HEADER = "x-emulator-fault"
_REMEMBERED_HEADERS = 256
_MESSAGES = {
    429: ("Rate limit reached for requests.", "rate_limit_error", "rate_limit_exceeded"),
    500: ("The server had an error while processing your request.", "server_error", None),
    502: ("Bad gateway.", "server_error", None),
    503: ("The server is overloaded or not ready yet.", "server_error", None),
    504: ("Gateway timeout.", "server_error", None),
}


class StreamCut(Exception):
    """Raised inside a response stream so the server drops the connection mid-body."""


class FaultPlan:
    def __init__(self, config: FaultConfig) -> None:
        self.config = config
        self.failures_left = config.fail_first_n
        self._rng = random.Random(config.seed)

    def next_fails(self) -> bool:
        """Whether the request now arriving gets `error_status`."""
        if self.failures_left > 0:
            self.failures_left -= 1
            return True
        rate = self.config.error_rate
        return rate > 0 and self._rng.random() < rate

    def delay_s(self) -> float:
        jitter = self.config.latency_jitter_ms
        extra = self._rng.uniform(0, jitter) if jitter else 0.0
        return (self.config.latency_ms + extra) / 1000


class HeaderPlans:
    """Plans for `x-emulator-fault` headers, keyed by the header text (least recent dropped)."""

    def __init__(self) -> None:
        self._plans: OrderedDict[str, FaultPlan] = OrderedDict()

    def plan_for(self, header: str) -> FaultPlan:
        plan = self._plans.get(header)
        if plan is None:
            plan = self._plans[header] = FaultPlan(parse_fault_header(header))
            if len(self._plans) > _REMEMBERED_HEADERS:
                self._plans.popitem(last=False)
        self._plans.move_to_end(header)
        return plan


def parse_fault_header(header: str) -> FaultConfig:
    try:
        data = orjson.loads(header)
        if not isinstance(data, dict):
            raise ValueError("expected a JSON object of FaultConfig fields")
        return FaultConfig.from_mapping(data)
    except (ValueError, TypeError) as exc:
        raise invalid_request(f"Invalid {FAULT_HEADER} header: {exc}", FAULT_HEADER) from exc


def injected_error(config: FaultConfig, style: str) -> tuple[int, list[tuple[str, str]], bytes]:
    """(status, headers, body) of an injected error answer, in the configured body style."""
    status = config.error_status
    headers: list[tuple[str, str]] = []
    if status == 429 or status == 503:
        headers.append(("retry-after", str(config.retry_after_s)))
    if config.error_body == "empty":
        return status, headers, b""
    if config.error_body == "html":
        return (
            status,
            [*headers, ("content-type", "text/html; charset=utf-8")],
            html_error_page(status),
        )
    message, kind, code = _MESSAGES.get(status, ("Injected error.", _kind_for(status), None))
    body = error_body(
        ApiError(status, f"{message} (injected by the emulator)", kind, None, code), style
    )
    return status, [*headers, ("content-type", "application/json")], body


async def faulty_sse(
    chunks: Sequence[dict[str, Any]], config: FaultConfig, style: str
) -> AsyncIterator[bytes]:
    """The SSE frames of `chunks`, with the stream faults of `config` applied."""
    delay = config.chunk_delay_ms / 1000
    # A fault point past the last chunk still strikes before `[DONE]`.
    error_at = _clamp(config.stream_error_after, len(chunks))
    cut_at = _clamp(config.stream_cut_after, len(chunks))
    for sent in range(len(chunks) + 1):
        if sent == error_at:
            envelope = ApiError(
                500, "The stream was interrupted (injected by the emulator).", "server_error"
            ).envelope(style)
            yield error_frame(envelope)
            return
        if sent == cut_at:
            raise StreamCut(f"stream cut after {sent} chunks (injected by the emulator)")
        if sent == len(chunks):
            break
        if delay and sent:
            await asyncio.sleep(delay)
        yield sse_frame(chunks[sent])
    yield DONE_FRAME


def _clamp(point: int | None, chunks: int) -> int | None:
    return None if point is None else min(point, chunks)


def _kind_for(status: int) -> str:
    return "server_error" if status >= 500 else "invalid_request_error"
