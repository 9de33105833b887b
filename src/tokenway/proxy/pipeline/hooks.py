"""The seam a request's observer hooks into, inside the pipeline's own coroutine.

A ``Wrap`` puts a coroutine around every request; an observer that only needs to be told
when a request starts and when it is answered is a ``RequestHook`` instead: the pipeline
calls it directly, without a coroutine layer (and its frame and resumptions) of its own.
A pipeline without one pays nothing for the possibility: it serves by another method.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from tokenway.http.server import Request, Response
from tokenway.proxy.pipeline.context import CallContext

Answered = Callable[[Response | None], None]  # the answer, or None when there was none


class RequestHook(Protocol):
    def begin(self, endpoint: str, request: Request, ctx: CallContext) -> Answered:
        """A request of ``endpoint`` starts (before its ticket: ``ctx.on_close`` and
        ``ctx.spans`` set here are used); the returned function is called once when its
        handler returns an answer or raises (then with None)."""
        ...
