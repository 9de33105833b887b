"""Helpers for the tokenway.http.server tests: a running server, raw clients, readers.

Most scenarios are plain ``async def`` functions without fixtures, so ``test_under_uvloop``
(in ``test_server_event_loops.py``) can run the same functions again on a uvloop event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator
from typing import Any

import orjson

from tokenway.http.server import HTTPServer, Request, Response

T = 2.0  # upper bound on any single network wait
_writers: list[asyncio.StreamWriter] = []  # client sides, closed at the end of each scenario


@contextlib.asynccontextmanager
async def running(handler: Any, **kwargs: Any) -> AsyncIterator[HTTPServer]:
    server = HTTPServer(handler, **kwargs)
    await server.start()
    try:
        yield server
    finally:
        await close_clients()
        await server.shutdown(timeout=1.0)


async def close_clients() -> None:
    while _writers:
        writer = _writers.pop()
        writer.close()
        with contextlib.suppress(Exception):
            await writer.wait_closed()


async def connect(
    server: HTTPServer, sock: socket.socket | None = None
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    if sock is None:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    else:
        reader, writer = await asyncio.open_connection(sock=sock)
    _writers.append(writer)
    return reader, writer


async def read_head(reader: asyncio.StreamReader) -> tuple[int, dict[str, str]]:
    raw = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), T)
    lines = raw.decode("latin-1").split("\r\n")
    assert lines[0].startswith("HTTP/1.1 ")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if line:
            name, value = line.split(":", 1)
            assert name.lower() not in headers, f"duplicate header {name}"
            headers[name.lower()] = value.strip()
    return int(lines[0].split(" ")[1]), headers


async def read_chunk(reader: asyncio.StreamReader) -> bytes:
    """One chunk of a chunked body; b"" for the terminating chunk."""
    size = int(await asyncio.wait_for(reader.readuntil(b"\r\n"), T), 16)
    data = await asyncio.wait_for(reader.readexactly(size + 2), T)
    assert data.endswith(b"\r\n")
    return data[:-2]


async def read_response(
    reader: asyncio.StreamReader, *, head_request: bool = False
) -> tuple[int, dict[str, str], bytes]:
    status, headers = await read_head(reader)
    if head_request:
        return status, headers, b""
    if "content-length" in headers:
        body = await asyncio.wait_for(reader.readexactly(int(headers["content-length"])), T)
    elif headers.get("transfer-encoding") == "chunked":
        chunks = []
        while chunk := await read_chunk(reader):
            chunks.append(chunk)
        body = b"".join(chunks)
    else:
        body = await asyncio.wait_for(reader.read(), T)
    return status, headers, body


async def assert_closed(reader: asyncio.StreamReader) -> None:
    assert await asyncio.wait_for(reader.read(), T) == b""


async def echo(request: Request) -> Response:
    data = {
        "method": request.method,
        "path": request.path,
        "query": request.query,
        "headers": request.headers,
        "body": request.body.decode("latin-1"),
        "client": request.client,
    }
    return Response(200, [("content-type", "application/json")], orjson.dumps(data))


def get(path: str, extra: str = "") -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: t\r\n{extra}\r\n".encode()
