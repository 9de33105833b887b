"""The seam traces hook into: a request's admission and each upstream attempt.

A hook that traces requests (``tokenway.proxy.observability``) puts a ``Spans`` on the
request's ``CallContext``; the pipeline tells it when admission ran, and each attempt
(``upstream.Upstream``'s ``plain``, ``stream``, ``mocked``, in their own frames) when it
starts and ends, and sends the ``traceparent`` it gets for an attempt to the upstream.
Without one (``ctx.spans is None``) none of this runs.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Protocol

from tokenway.errors import TokenwayError
from tokenway.http.server import Response
from tokenway.proxy.models import Route

Send = Callable[[Route, float], Awaitable[Response]]


class Spans(Protocol):
    def admission(self, started: float) -> None:
        """Admission ran from ``started`` (perf_counter) until now."""

    def attempt_started(self, route: Route) -> str:
        """An attempt at ``route`` starts; returns its ``traceparent`` header value."""
        ...

    def attempt_ended(self, status: int, error: str | None) -> None:
        """The attempt answered (a stream: its first content) or failed."""


def attempt_failed(spans: Spans, error: BaseException) -> None:
    """The attempt told to ``spans`` failed with ``error`` (not a ``TokenwayError``: it was
    cancelled)."""
    if isinstance(error, TokenwayError):
        spans.attempt_ended(error.status_code, error.code or error.error_type)
    else:
        spans.attempt_ended(499, "cancelled")
