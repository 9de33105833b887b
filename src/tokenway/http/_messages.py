"""Requests, responses and handler types of :mod:`tokenway.http.server` (internal)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

logger = logging.getLogger("tokenway.http")


@dataclass(slots=True)
class Request:
    """One parsed request. ``disconnected`` is shared by the requests of a connection and
    set when that connection closes or fails.

    ``cancel_on_disconnect``: a handler sets it when cutting it short is safe and wanted
    (a chat call, so an upstream call nobody waits for stops); the server then cancels
    the handler's task as soon as the client's connection is lost. Left unset (admin
    writes), a handler runs to its end whatever the client does."""

    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: bytes
    client: tuple[str, int] | None
    disconnected: asyncio.Event
    cancel_on_disconnect: bool = False


@dataclass(slots=True)
class Response:
    """A handler's answer. Handlers must not set content-length, transfer-encoding,
    connection or date: the server writes those itself.

    ``header_block`` is more header lines already rendered (``b"name: value\r\n"`` each,
    latin-1), written after ``headers``: for a hot path that can render several at once.
    The server checks every header where it renders it (``tokenway.http._headers``): a
    header that could break the response is dropped, a bad ``header_block`` as a whole.
    """

    status: int = 200
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""
    stream: AsyncIterator[bytes] | None = None
    header_block: bytes = b""


Handler = Callable[[Request], Awaitable[Response]]
ErrorResponder = Callable[[int, str], Response]


async def aclose_stream(stream: AsyncIterator[bytes]) -> None:
    aclose = getattr(stream, "aclose", None)
    if aclose is not None:
        try:
            await aclose()
        except Exception:
            logger.exception("closing a response stream failed")
