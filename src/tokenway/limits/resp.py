"""A Redis connection of our own for the batched script calls: write a batch, parse its
replies (RESP2) as the bytes arrive.

Measured reason (bench/RESULTS.md, issue 14): redis-py's ``read_response``, awaited once
per reply, was most of what the batches still cost a busy process. Here one
``data_received`` parses every complete reply in the buffer and resolves a batch's future
when its last reply is in: no coroutine per reply. Only what the scripts answer is parsed
(integers, bulk and simple strings, arrays, errors). Connecting (TCP, TLS or a Unix
socket; AUTH and SELECT) follows the URL as redis-py reads it.
"""

from __future__ import annotations

import asyncio
import ssl
from collections import deque
from collections.abc import Callable
from typing import Any

__all__ = ["RespConnection", "connect"]

# count, replies so far, and who waits: a function called with the replies (or the error
# that ends the connection) as soon as they are parsed
_Batch = tuple[int, list[Any], Callable[[Any], None]]


class _Incomplete(Exception):
    """The buffer ends inside a reply: wait for more bytes."""


class RespConnection(asyncio.Protocol):
    def __init__(self) -> None:
        self._buffer = bytearray()
        self._batches: deque[_Batch] = deque()
        self._transport: asyncio.Transport | None = None
        self._closed: BaseException | None = None
        from redis.exceptions import NoScriptError, ResponseError

        self._no_script = NoScriptError
        self._response_error = ResponseError

    # ---- use ---------------------------------------------------------------------

    def send(self, commands: bytes, count: int) -> asyncio.Future[list[Any]]:
        """Write ``count`` packed commands; the future holds their replies, in order (an
        error reply as its exception object)."""
        future: asyncio.Future[list[Any]] = asyncio.get_running_loop().create_future()

        def then(replies: Any) -> None:
            if future.done():
                return
            if isinstance(replies, BaseException):
                future.set_exception(replies)
            else:
                future.set_result(replies)

        self.send_to(commands, count, then)
        return future

    def send_to(self, commands: bytes, count: int, then: Callable[[Any], None]) -> None:
        """``send``, with ``then`` called with the replies (or the error that ends the
        connection) from the connection's own callback: no future, no task to wake."""
        if self._closed is not None or self._transport is None:
            then(ConnectionError("the Redis connection is closed"))
            return
        self._batches.append((count, [], then))
        self._transport.write(commands)

    def abort(self, error: BaseException) -> None:
        """Fail every batch waiting, now, with ``error``, and close."""
        self._fail(error)
        self.close()

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()

    # ---- asyncio.Protocol ---------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]  # uvloop's is not a subclass

    def data_received(self, data: bytes) -> None:
        buffer = self._buffer
        buffer += data
        batches = self._batches
        pos = 0
        try:
            while batches:
                reply, pos = self._parse(buffer, pos)
                count, replies, waiter = batches[0]
                replies.append(reply)
                if len(replies) == count:
                    batches.popleft()
                    waiter(replies)
        except _Incomplete:
            pass
        del buffer[:pos]

    def connection_lost(self, exc: Exception | None) -> None:
        self._fail(exc or ConnectionError("Redis closed the connection"))

    def _fail(self, error: BaseException) -> None:
        if self._closed is None:
            self._closed = error
        while self._batches:
            self._batches.popleft()[2](ConnectionError(str(self._closed)))

    # ---- RESP2 --------------------------------------------------------------------

    def _parse(self, buffer: bytearray, pos: int) -> tuple[Any, int]:
        end = buffer.find(b"\r\n", pos)
        if end < 0:
            raise _Incomplete
        kind, line, after = buffer[pos], buffer[pos + 1 : end], end + 2
        if kind == 58:  # ':' integer
            return int(line), after
        if kind == 36:  # '$' bulk string
            size = int(line)
            if size < 0:
                return None, after
            if len(buffer) < after + size + 2:
                raise _Incomplete
            return bytes(buffer[after : after + size]), after + size + 2
        if kind == 42:  # '*' array
            items = []
            for _ in range(int(line)):
                if buffer[after : after + 1] == b":":  # an integer, read here (most are)
                    end = buffer.find(b"\r\n", after)
                    if end < 0:
                        raise _Incomplete
                    items.append(int(buffer[after + 1 : end]))
                    after = end + 2
                else:
                    item, after = self._parse(buffer, after)
                    items.append(item)
            return items, after
        if kind == 43:  # '+' simple string
            return line.decode(), after
        if kind == 45:  # '-' error
            message = line.decode(errors="replace")
            error = self._no_script if message.startswith("NOSCRIPT") else self._response_error
            return error(message), after
        raise ConnectionError(f"unexpected reply from Redis: {bytes(buffer[pos:end])!r}")


async def connect(url: str) -> RespConnection:
    """A connection to the Redis at ``url`` (as redis-py parses it), authenticated and on
    its database."""
    from redis.asyncio.connection import SSLConnection, UnixDomainSocketConnection, parse_url

    options: dict[str, Any] = dict(parse_url(url))
    loop = asyncio.get_running_loop()
    kind = options.get("connection_class")
    if kind is UnixDomainSocketConnection:
        _, conn = await loop.create_unix_connection(RespConnection, options["path"])
    else:
        tls = ssl.create_default_context() if kind is SSLConnection else None
        host, port = options.get("host", "localhost"), int(options.get("port", 6379))
        _, conn = await loop.create_connection(RespConnection, host, port, ssl=tls)
    hello = _hello(options)
    if hello:
        replies = await conn.send(b"".join(hello), len(hello))
        failed = [r for r in replies if isinstance(r, Exception)]
        if failed:
            conn.close()
            raise failed[0]
    return conn


def _hello(options: dict[str, Any]) -> list[bytes]:
    commands = []
    password, user = options.get("password"), options.get("username")
    if password:
        words = ["AUTH", user, password] if user else ["AUTH", password]
        commands.append(_command(words))
    db = int(options.get("db") or 0)
    if db:
        commands.append(_command(["SELECT", str(db)]))
    return commands


def _command(words: list[str]) -> bytes:
    parts = [b"*%d\r\n" % len(words)]
    for word in words:
        data = word.encode()
        parts.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(parts)
