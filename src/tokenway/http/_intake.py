"""The parsing side of a server connection: httptools callbacks up to a complete request
body, and the limits a request's head must keep (internal; see :mod:`tokenway.http._protocol`).

Sizes are checked while the bytes arrive: the request target in ``on_url``, each header
line and the number of lines in ``on_header``, the whole head in ``on_headers_complete``.
httptools accumulates an unfinished header line inside itself before it calls
``on_header``, so the connection also asks ``_head_overflows`` after every read that leaves
the head unfinished. Repeated header names are collected and joined once, at the end of
the head: linear however many repeats arrive.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, NoReturn

import httptools

if TYPE_CHECKING:
    from tokenway.http.server import ServerState

CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"


class Abort(Exception):
    """Raised inside a parser callback to stop parsing; ``RequestIntake._fatal`` says why."""


class RequestIntake(asyncio.Protocol):
    """Parser state of one connection; ``HttpProtocol`` adds the serving."""

    __slots__ = (
        "_body",
        "_body_size",
        "_continue_pending",
        "_extra",
        "_fatal",
        "_fresh",
        "_head_bytes",
        "_head_start",
        "_headers",
        "_in_head",
        "_last_active",
        "_loop",
        "_parser",
        "_partial",
        "_receiving",
        "_repeats",
        "_state",
        "_task",
        "_transport",
        "_url",
        "_v11",
    )

    def __init__(self, state: ServerState) -> None:
        self._state = state
        self._loop = asyncio.get_running_loop()
        self._transport: asyncio.Transport = None  # type: ignore[assignment]
        self._parser = httptools.HttpRequestParser(self)
        self._url = b""
        self._headers: dict[str, str] = {}
        self._body: list[bytes] = []
        self._body_size = 0
        self._task: asyncio.Task[None] | None = None
        self._fatal: tuple[int, str] | None = None
        self._continue_pending = False
        # the request being received: its head's size so far, where it stands
        self._head_bytes = self._partial = self._repeats = 0
        self._extra: dict[str, list[str]] | None = None  # repeated headers, joined at the end
        self._in_head = self._receiving = self._v11 = False
        self._last_active = self._head_start = self._loop.time()  # idle since; head since
        self._fresh = True  # no response sent yet: the first head's deadline runs from open

    # -- httptools callbacks ---------------------------------------------------------------

    def on_message_begin(self) -> None:
        self._url = b""
        self._headers = {}
        self._body_size = self._head_bytes = 0
        self._partial = -1  # the head began in this read (see _head_overflows)
        self._in_head = self._receiving = True
        self._head_start = self._loop.time()

    def on_url(self, url: bytes) -> None:
        url = self._url + url
        self._url = url
        if len(url) > self._state.max_request_line_bytes:
            self._refuse(414, "The request target is too long.")

    def on_header(self, name: bytes, value: bytes) -> None:
        size = len(name) + len(value)
        self._head_bytes += size
        if size > self._state.max_header_line_bytes:
            self._refuse(431, "A request header line is too large.")
        key = name.decode("latin-1").lower()
        headers = self._headers
        if key in headers:
            self._repeat(key, value.decode("latin-1"))
        else:
            headers[key] = value.decode("latin-1")

    def on_headers_complete(self) -> None:
        self._in_head = False
        headers = self._headers
        state = self._state
        if self._extra is not None:
            self._join_repeats()
        if (
            len(headers) > state.max_header_count
            or self._head_bytes + len(self._url) > state.max_header_bytes
        ):
            self._refuse(431, "The request's header fields are too large.")
        version = self._parser.get_http_version()
        if version != "1.1" or "host" not in headers:
            self._check_version(version)
        self._v11 = version == "1.1"
        length = headers.get("content-length")
        if length is not None and length.isdigit() and int(length) > state.max_body_size:
            self._fatal = (413, "Request body too large.")
            raise Abort
        expect = headers.get("expect")
        if expect is not None and expect.lower() == "100-continue" and self._v11:
            if self._task is None:
                self._transport.write(CONTINUE)
            else:
                self._continue_pending = True

    def on_body(self, body: bytes) -> None:
        self._body_size += len(body)
        if self._body_size > self._state.max_body_size:
            self._fatal = (413, "Request body too large.")
            raise Abort
        self._body.append(body)

    # -- the limits -------------------------------------------------------------------------

    def _refuse(self, status: int, message: str) -> NoReturn:
        """Inside a parser callback: answer ``status`` and close."""
        self._fatal = (status, message)
        raise Abort

    def _head_overflows(self, data: bytes) -> bool:
        """The head is unfinished after this read: is what httptools holds of it too large?

        Its complete lines were counted by ``on_header``; the unfinished one is what
        follows the last newline. When the head began in this read, that tail may also
        hold the end of the previous request's body, so it counts from the next read on
        (at most one read uncounted, never a false refusal)."""
        partial = self._partial
        newline = data.rfind(b"\n")
        if partial < 0:
            partial = 0
        elif newline < 0:
            partial += len(data)
        else:
            partial = len(data) - newline - 1
        self._partial = partial
        state = self._state
        return (
            partial > state.max_header_line_bytes
            or self._head_bytes + len(self._url) + partial > state.max_header_bytes
        )

    def _repeat(self, key: str, value: str) -> None:
        """A header name seen before in this head: kept, joined once at the end (linear)."""
        if key == "host":
            self._refuse(400, "The request has more than one Host header.")
        self._repeats += 1
        if len(self._headers) + self._repeats > self._state.max_header_count:
            self._refuse(431, "The request has too many header fields.")
        extra = self._extra
        if extra is None:
            extra = self._extra = {}
        values = extra.get(key)
        if values is None:
            extra[key] = [self._headers[key], value]
        else:
            values.append(value)

    def _join_repeats(self) -> None:
        headers = self._headers
        for key, values in (self._extra or {}).items():
            headers[key] = ", ".join(values)
        self._extra = None
        self._repeats = 0

    def _check_version(self, version: str) -> None:
        """RFC 9112: HTTP/1.1 needs exactly one Host (§3.2); no HTTP/0.9 (nor 2.0 here)."""
        if version == "0.9":
            self._refuse(400, "HTTP/0.9 requests are not supported.")
        if version not in ("1.0", "1.1"):
            self._refuse(505, "HTTP version not supported; use HTTP/1.1.")
        if version == "1.1" and "host" not in self._headers:
            self._refuse(400, "An HTTP/1.1 request needs a Host header.")

    def _deadline(self) -> float:
        """When the request being received must be complete: its head within
        ``header_timeout`` of its first byte (of the connection's opening for the first
        request; of the previous answer's end when pipelined), its body within
        ``body_timeout`` more plus its size (or the largest allowed) at ``min_body_rate``."""
        state = self._state
        start = self._last_active if self._fresh else max(self._head_start, self._last_active)
        deadline = start + state.header_timeout
        if self._in_head:
            return deadline
        length = self._headers.get("content-length")
        size = int(length) if length is not None and length.isdigit() else state.max_body_size
        return deadline + state.body_timeout + size / state.min_body_rate
