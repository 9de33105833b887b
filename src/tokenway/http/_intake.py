"""The parsing side of a server connection: httptools callbacks up to a complete request
body, and the limits a request's head must keep (internal; see :mod:`tokenway.http._protocol`).

Sizes are checked where it costs least. A head that began and ended within one read no
larger than the smallest size limit keeps every size limit; only the number of lines is
left to compare. Any other head is measured once it is complete (``_check_head``), and a
head that a read leaves unfinished after that read (``head_refusal``): httptools
accumulates an unfinished header line inside itself before it calls ``on_header``, so a
header that never ends is refused after about a line plus one read, never buffered whole.
Repeated header names are collected and joined once, at the end of the head: linear
however many repeats arrive.
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
        "_head_start",
        "_headers",
        "_in_head",
        "_last_active",
        "_loop",
        "_opened",
        "_parser",
        "_partial",
        "_read_size",
        "_receiving",
        "_repeat_bytes",
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
        self._partial = self._repeats = self._repeat_bytes = self._read_size = 0
        self._extra: dict[str, list[str]] | None = None  # repeated headers, joined at the end
        self._in_head = self._receiving = self._v11 = False
        # idle since (the opening, then each answer's end); the head being received since
        self._opened = self._last_active = self._head_start = self._loop.time()

    # -- httptools callbacks ---------------------------------------------------------------

    def on_message_begin(self) -> None:
        self._url = b""
        self._headers = {}
        self._body_size = 0
        self._partial = -1  # the head began in this read (see head_refusal)
        self._in_head = self._receiving = True
        self._head_start = self._loop.time()

    def on_url(self, url: bytes) -> None:
        self._url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        key = name.decode("latin-1").lower()
        headers = self._headers
        if key in headers:
            self._repeat(key, name, value)
        else:
            headers[key] = value.decode("latin-1")

    def on_headers_complete(self) -> None:
        self._in_head = False
        headers = self._headers
        state = self._state
        if (
            self._partial >= 0  # the head took more than one read
            or self._read_size > state.small_head
            or len(headers) > state.max_header_count
            or self._extra is not None
        ):
            self._check_head()
        version = self._parser.get_http_version()
        if version != "1.1" or "host" not in headers:
            self._check_version(version)
        self._v11 = version == "1.1"
        length = headers.get("content-length")
        if length is not None and length.isdigit() and int(length) > state.max_body_size:
            self._refuse(413, "Request body too large.")
        expect = headers.get("expect")
        if expect is not None and expect.lower() == "100-continue" and self._v11:
            if self._task is None:
                self._transport.write(CONTINUE)
            else:
                self._continue_pending = True

    def on_body(self, body: bytes) -> None:
        self._body_size += len(body)
        if self._body_size > self._state.max_body_size:
            self._refuse(413, "Request body too large.")
        self._body.append(body)

    # -- the limits -------------------------------------------------------------------------

    def _refuse(self, status: int, message: str) -> NoReturn:
        """Inside a parser callback: answer ``status`` and close."""
        self._fatal = (status, message)
        raise Abort

    def _check_head(self) -> None:
        """A complete head that may break a limit: check each (and join the repeats)."""
        state = self._state
        headers = self._headers
        size = len(self._url) + sum(map(len, headers)) + sum(map(len, headers.values()))
        if len(self._url) > state.max_request_line_bytes:
            self._refuse(414, "The request target is too long.")
        if len(headers) + self._repeats > state.max_header_count:
            self._refuse(431, "The request has too many header fields.")
        if size + self._repeat_bytes > state.max_header_bytes:
            self._refuse(431, "The request's header fields are too large.")
        limit = state.max_header_line_bytes
        if size > limit and any(len(k) + len(v) > limit for k, v in headers.items()):
            self._refuse(431, "A request header line is too large.")
        if self._extra:
            self._join_repeats()

    def head_refusal(self, data: bytes) -> tuple[int, str] | None:
        """After a read that leaves the head unfinished: why to refuse it, if it is too large.

        The unfinished line is what follows the read's last newline (or all of it, added
        to the last one's). When the head began in this read, that tail may also hold the
        end of the previous request's body, so it counts from the next read on (at most
        one read uncounted, never a false refusal)."""
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
        if len(self._url) > state.max_request_line_bytes:
            return (414, "The request target is too long.")
        headers = self._headers
        size = len(self._url) + sum(map(len, headers)) + sum(map(len, headers.values()))
        if (
            partial > state.max_header_line_bytes
            or size + self._repeat_bytes + partial > state.max_header_bytes
        ):
            return (431, "The request's header fields are too large.")
        return None

    def _repeat(self, key: str, name: bytes, value: bytes) -> None:
        """A header name seen before in this head: kept, joined once at the end (linear)."""
        if key == "host":
            self._refuse(400, "The request has more than one Host header.")
        size = len(name) + len(value)
        state = self._state
        self._repeats += 1
        self._repeat_bytes += size
        if len(self._headers) + self._repeats > state.max_header_count:
            self._refuse(431, "The request has too many header fields.")
        if size > state.max_header_line_bytes:
            self._refuse(431, "A request header line is too large.")
        extra = self._extra
        if extra is None:
            extra = self._extra = {}
        values = extra.get(key)
        if values is None:
            extra[key] = [self._headers[key], value.decode("latin-1")]
        else:
            values.append(value.decode("latin-1"))

    def _join_repeats(self) -> None:
        headers = self._headers
        for key, values in (self._extra or {}).items():
            headers[key] = ", ".join(values)
        self._extra = None
        self._repeats = self._repeat_bytes = 0

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
        idle_since = self._last_active
        fresh = idle_since == self._opened  # no answer yet: the first request
        start = idle_since if fresh else max(self._head_start, idle_since)
        deadline = start + state.header_timeout
        if self._in_head:
            return deadline
        length = self._headers.get("content-length")
        size = int(length) if length is not None and length.isdigit() else state.max_body_size
        return deadline + state.body_timeout + size / state.min_body_rate
