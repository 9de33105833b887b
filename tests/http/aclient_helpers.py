"""Scripted asyncio servers and a client fixture for the AsyncHTTPClient tests.

Test modules import the ``client`` fixture ``as client`` (an explicit re-export).
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from tokenway.http.aclient import AsyncHTTPClient

Reader = asyncio.StreamReader
Writer = asyncio.StreamWriter
Handler = Callable[["Server", Reader, Writer, int], Awaitable[None]]


class Server:
    """Runs ``handler(server, reader, writer, n)`` for the n-th connection (1-based)."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.conns = 0
        self.requests: list[tuple[str, dict[str, str], bytes]] = []
        self.eof = asyncio.Event()  # set when a handler saw the client close
        self.tasks: set[asyncio.Task[None]] = set()

    async def __aenter__(self) -> Server:
        self.server = await asyncio.start_server(self._on_conn, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.server.close()
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)

    async def _on_conn(self, reader: Reader, writer: Writer) -> None:
        task = asyncio.current_task()
        assert task is not None
        self.tasks.add(task)
        self.conns += 1
        try:
            await self.handler(self, reader, writer, self.conns)
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.CancelledError):
            pass  # (a cancelled handler ends quietly: 3.11's streams log cancelled handlers)
        finally:
            writer.close()

    async def read_request(self, reader: Reader) -> tuple[str, dict[str, str], bytes] | None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, ConnectionError):
            self.eof.set()
            return None
        line, *rest = head.decode().split("\r\n")
        headers = dict(h.split(": ", 1) for h in rest if h)
        body = await reader.readexactly(int(headers.get("Content-Length", 0)))
        self.requests.append((line, headers, body))
        return line, headers, body

    async def wait_eof(self, reader: Reader) -> None:
        with pytest.raises((asyncio.IncompleteReadError, ConnectionError)):
            await reader.readuntil(b"never")
        self.eof.set()


def ok(body: bytes = b"hello", extra: str = "", status: str = "200 OK") -> bytes:
    return f"HTTP/1.1 {status}\r\nContent-Length: {len(body)}\r\n{extra}\r\n".encode() + body


async def keep_alive_loop(srv: Server, reader: Reader, writer: Writer, response: bytes) -> None:
    while (req := await srv.read_request(reader)) is not None:
        writer.write(response or ok(req[2] or b"hello"))


def keep_alive(response: bytes = b"") -> Handler:
    """Serve every request on the connection with ``response`` (default: ok(request body))."""

    async def handler(srv: Server, reader: Reader, writer: Writer, n: int) -> None:
        await keep_alive_loop(srv, reader, writer, response)

    return handler


def serve(handler: Handler) -> Server:
    return Server(handler)


async def until(condition: Callable[[], object]) -> None:
    for _ in range(200):
        if condition():
            return
        await asyncio.sleep(0.005)
    raise AssertionError("condition not reached")


@pytest.fixture
async def client() -> AsyncIterator[AsyncHTTPClient]:
    c = AsyncHTTPClient(connect_timeout=1.0)
    yield c
    await c.aclose()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port
