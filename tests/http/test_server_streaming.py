"""tokenway.http.server's streamed responses: chunks, disconnects, errors, backpressure."""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from collections.abc import AsyncIterator

import pytest
from tests.http.server_helpers import T, connect, get, read_chunk, read_head, read_response, running

from tokenway.http.server import Request, Response


async def test_stream_chunks_arrive_incrementally() -> None:
    go_on = asyncio.Event()
    finished = asyncio.Event()

    async def chunks() -> AsyncIterator[bytes]:
        try:
            yield b"data: first\n\n"
            await go_on.wait()
            yield b""  # skipped: must not end the body
            yield b"data: second\n\n"
        finally:
            finished.set()

    async def handler(request: Request) -> Response:
        return Response(200, [("content-type", "text/event-stream")], stream=chunks())

    async with running(handler) as server:
        reader, writer = await connect(server)
        writer.write(get("/s"))
        status, headers = await read_head(reader)
        assert (status, headers["transfer-encoding"]) == (200, "chunked")
        assert "content-length" not in headers
        assert await read_chunk(reader) == b"data: first\n\n"  # before the generator may go on
        assert server.in_flight == 1
        go_on.set()
        assert await read_chunk(reader) == b"data: second\n\n"
        assert await read_chunk(reader) == b""
        await asyncio.wait_for(finished.wait(), T)
        writer.write(get("/s2"))  # still keep-alive after a complete stream
        go_on.set()
        assert (await read_response(reader))[2] == b"data: first\n\ndata: second\n\n"
        assert server.in_flight == 0
        writer.close()


async def test_client_disconnect_mid_stream_sets_disconnected_and_closes_generator() -> None:
    requests: list[Request] = []
    finalized = asyncio.Event()

    async def chunks() -> AsyncIterator[bytes]:
        try:
            yield b"one"
            await asyncio.Event().wait()  # an upstream that never answers
            yield b"never"
        finally:
            finalized.set()

    async def handler(request: Request) -> Response:
        requests.append(request)
        return Response(stream=chunks())

    async with running(handler) as server:
        reader, writer = await connect(server)
        writer.write(get("/s"))
        await read_head(reader)
        assert await read_chunk(reader) == b"one"
        assert not requests[0].disconnected.is_set()
        writer.close()
        await asyncio.wait_for(finalized.wait(), T)
        assert requests[0].disconnected.is_set()
        assert server.in_flight == 0


async def test_stream_error_truncates_body(caplog: pytest.LogCaptureFixture) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b"partial"
        raise RuntimeError("upstream broke")

    async def handler(request: Request) -> Response:
        return Response(stream=chunks())

    async with running(handler) as server:
        reader, writer = await connect(server)
        with caplog.at_level(logging.ERROR, logger="tokenway.http"):
            writer.write(get("/s"))
            await read_head(reader)
            assert await read_chunk(reader) == b"partial"
            rest = await asyncio.wait_for(reader.read(), T)
        assert rest == b""  # closed without the terminating 0-chunk
        assert any("stream failed" in r.getMessage() for r in caplog.records)


async def test_slow_reader_backpressures_the_stream() -> None:
    chunk, count = b"z" * 65536, 128  # 8 MiB, far more than the socket buffers hold
    produced = 0
    finalized = asyncio.Event()

    async def chunks() -> AsyncIterator[bytes]:
        nonlocal produced
        try:
            for _ in range(count):
                produced += 1
                yield chunk
        finally:
            finalized.set()

    async def handler(request: Request) -> Response:
        return Response(stream=chunks())

    async with running(handler) as server:
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)
        sock.connect(("127.0.0.1", server.port))
        sock.setblocking(False)
        reader, writer = await connect(server, sock)
        writer.write(get("/big"))
        seen, deadline = -1, time.monotonic() + T
        while produced != seen and time.monotonic() < deadline:  # until the stream stalls
            seen = produced
            await asyncio.sleep(0.05)
        assert 0 < produced < count  # paused, not buffered whole in memory
        await read_head(reader)
        total = 0
        while data := await read_chunk(reader):
            total += len(data)
        assert total == len(chunk) * count
        await asyncio.wait_for(finalized.wait(), T)
        writer.close()
