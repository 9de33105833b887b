"""A request's trace: its ids, the W3C ``traceparent`` it came with, and the times of its
admission and upstream attempts (``Spans``, told by the pipeline).

Nothing here builds a span on the request's path: the times are kept as integers
(``perf_counter_ns``: to Unix nanoseconds, one integer add) and ``otlp`` turns them into
spans on its own thread. A request's ids (its trace, its span,
its admission's and its first attempt's) come from one ``os.urandom`` call; a further
attempt's or a stream's span id from ``random`` (unique, not secret; Python reseeds it
in a forked worker).
"""

from __future__ import annotations

import random
import re
from os import urandom
from time import perf_counter_ns

from tokenway.proxy.models import Route

# version 00, a non-zero trace id and parent id, flags (W3C Trace Context, level 1)
_TRACEPARENT = re.compile(r"00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})")
_ZERO_TRACE, _ZERO_SPAN = "0" * 32, "0" * 16


class Attempt:
    __slots__ = ("ended", "error", "route", "span_id", "started", "status")

    def __init__(self, route: Route, span_id: str, started: int) -> None:
        self.route = route
        self.span_id = span_id
        self.started = started
        self.ended = started
        self.status = 0
        self.error: str | None = None


class RequestTrace:
    """One request's spans, as times; implements the pipeline's ``Spans``."""

    __slots__ = (
        "admission_id", "admitted", "attempts", "first_attempt_id", "parent_id", "span_id",
        "started", "trace_id",
    )  # fmt: skip

    def __init__(self, traceparent: str | None, started: float) -> None:
        """``started``: the request's arrival (perf_counter), where its span begins."""
        self.started = int(started * 1e9)  # as perf_counter_ns
        # the trace id and three span ids from one draw: 80 hex digits (a zero span id,
        # 2**-64 likely, would only make a collector drop the span)
        ids = urandom(40).hex()
        self.span_id = ids[32:48]
        self.admission_id = ids[48:64]
        self.first_attempt_id = ids[64:]
        if traceparent is None:
            self.trace_id, self.parent_id = ids[:32], None
        else:
            parent = _parse(traceparent)
            if parent is None:
                self.trace_id, self.parent_id = ids[:32], None
            else:
                self.trace_id, self.parent_id = parent
        self.admitted: tuple[int, int] | None = None
        self.attempts: list[Attempt] = []

    def admission(self, started: float) -> None:
        self.admitted = (int(started * 1e9), perf_counter_ns())

    def attempt_started(self, route: Route) -> str:
        span_id = new_span_id() if self.attempts else self.first_attempt_id
        attempt = Attempt(route, span_id, perf_counter_ns())
        self.attempts.append(attempt)
        return f"00-{self.trace_id}-{attempt.span_id}-01"

    def attempt_ended(self, status: int, error: str | None) -> None:
        attempt = self.attempts[-1]
        attempt.ended = perf_counter_ns()
        attempt.status = status
        attempt.error = error


def new_span_id() -> str:
    return f"{random.getrandbits(64) or 1:016x}"


def _parse(traceparent: str | None) -> tuple[str, str] | None:
    """The client's trace id and span id, if its header is well formed (else a new trace;
    the header is never echoed)."""
    if not traceparent:
        return None
    match = _TRACEPARENT.fullmatch(traceparent.strip())
    if match is None or match[1] == _ZERO_TRACE or match[2] == _ZERO_SPAN:
        return None
    return match[1], match[2]
