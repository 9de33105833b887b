"""tokenway.http.server over real loopback sockets.

Most scenarios are plain ``async def`` functions without fixtures, so ``test_under_uvloop``
can run the same functions again on a uvloop event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import logging
import re
import socket
import time
from collections.abc import AsyncIterator
from http import HTTPStatus
from typing import Any

import orjson
import pytest

from tokenway.http.server import (
    HTTPServer,
    Request,
    Response,
    default_error_responder,
    install_uvloop,
)

T = 2.0  # upper bound on any single network wait
_writers: list[asyncio.StreamWriter] = []  # client sides, closed at the end of each scenario


# -- helpers -----------------------------------------------------------------------------------


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


# -- basics ------------------------------------------------------------------------------------


async def test_get_and_post_echo() -> None:
    async with running(echo) as server:
        reader, writer = await connect(server)
        writer.write(get("/v1/x%20y?a=1&b=2", "X-Multi: a\r\nx-multi: b\r\n"))
        status, headers, body = await read_response(reader)
        assert status == 200
        assert re.fullmatch(r"\w{3}, \d\d \w{3} \d{4} \d\d:\d\d:\d\d GMT", headers["date"])
        assert headers["content-type"] == "application/json"
        data = orjson.loads(body)
        assert data["method"] == "GET"
        assert (data["path"], data["query"]) == ("/v1/x%20y", "a=1&b=2")
        assert data["headers"]["x-multi"] == "a, b"
        assert data["headers"]["host"] == "t"
        assert data["client"][0] == "127.0.0.1"

        payload = b'{"model": "m", "messages": []}'
        writer.write(
            b"POST /v1/chat HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
            b"Content-Length: %d\r\n\r\n%s" % (len(payload), payload)
        )
        status, headers, body = await read_response(reader)
        assert status == 200
        data = orjson.loads(body)
        assert (data["method"], data["path"], data["query"]) == ("POST", "/v1/chat", "")
        assert data["body"].encode() == payload
        writer.close()


async def test_keepalive_several_requests_one_connection() -> None:
    seen_ports: set[int] = set()

    async def handler(request: Request) -> Response:
        assert request.client is not None
        seen_ports.add(request.client[1])
        return Response(body=request.path.encode())

    async with running(handler) as server:
        reader, writer = await connect(server)
        for i in range(5):
            writer.write(get(f"/n{i}"))
            status, headers, body = await read_response(reader)
            assert (status, body) == (200, f"/n{i}".encode())
            assert "connection" not in headers
        assert len(seen_ports) == 1
        writer.close()


async def test_http_client_in_thread_keeps_connection() -> None:
    async with running(echo, server_header="tokenway") as server:

        def talk() -> list[tuple[int, str | None, bytes, int]]:
            conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=T)
            out = []
            conn.request("POST", "/a?q=1", body=b"x" * 5000, headers={"Content-Type": "t/p"})
            first_sock = conn.sock
            r = conn.getresponse()
            out.append((r.status, r.getheader("server"), r.read(), id(conn.sock)))
            conn.request("GET", "/b")
            r = conn.getresponse()
            out.append((r.status, r.getheader("server"), r.read(), id(conn.sock)))
            assert conn.sock is first_sock
            conn.close()
            return out

        (s1, srv1, b1, sock1), (s2, _, b2, sock2) = await asyncio.to_thread(talk)
        assert (s1, s2, srv1) == (200, 200, "tokenway")
        assert orjson.loads(b1)["body"] == "x" * 5000
        assert orjson.loads(b2)["path"] == "/b"
        assert sock1 == sock2


async def test_request_split_across_packets() -> None:
    async with running(echo) as server:
        reader, writer = await connect(server)
        raw = (
            b"POST /sp/lit?x=1 HTTP/1.1\r\nHost: t\r\nX-Long: abcdef\r\n"
            b"Content-Length: 6\r\n\r\nabcdef"
        )
        for piece in (raw[:7], raw[7:14], raw[14:33], raw[33:-3], raw[-3:]):
            writer.write(piece)
            await writer.drain()
            await asyncio.sleep(0.005)
        status, _, body = await read_response(reader)
        data = orjson.loads(body)
        assert (status, data["path"], data["query"]) == (200, "/sp/lit", "x=1")
        assert (data["headers"]["x-long"], data["body"]) == ("abcdef", "abcdef")
        writer.close()


async def test_pipelined_requests_answered_in_order_one_at_a_time() -> None:
    active = 0
    max_active = 0

    async def handler(request: Request) -> Response:
        nonlocal active, max_active
        active += 1
        max_active = max(max_active, active)
        await asyncio.sleep(0.03 if request.path == "/0" else 0)
        active -= 1
        return Response(body=request.path.encode())

    async with running(handler) as server:
        reader, writer = await connect(server)
        writer.write(b"".join(get(f"/{i}") for i in range(4)))
        bodies = [(await read_response(reader))[2] for _ in range(4)]
        assert bodies == [b"/0", b"/1", b"/2", b"/3"]
        assert max_active == 1
        writer.close()


async def test_chunked_request_body() -> None:
    async with running(echo) as server:
        reader, writer = await connect(server)
        writer.write(
            b"POST /c HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n"
        )
        await writer.drain()
        await asyncio.sleep(0.01)
        writer.write(b"6\r\n world\r\n0\r\n\r\n")
        status, _, body = await read_response(reader)
        assert (status, orjson.loads(body)["body"]) == (200, "hello world")
        writer.close()


async def test_expect_100_continue() -> None:
    async with running(echo) as server:
        reader, writer = await connect(server)
        writer.write(
            b"POST /e HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n"
        )
        interim = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), T)
        assert interim == b"HTTP/1.1 100 Continue\r\n\r\n"
        writer.write(b"hello")
        status, _, body = await read_response(reader)
        assert (status, orjson.loads(body)["body"]) == (200, "hello")
        writer.close()


async def test_no_stray_100_continue_when_body_comes_anyway() -> None:
    release = asyncio.Event()

    async def handler(request: Request) -> Response:
        if request.path == "/slow":
            await release.wait()
        return Response(body=request.path.encode())

    async with running(handler) as server:
        reader, writer = await connect(server)
        writer.write(get("/slow"))
        await asyncio.sleep(0.01)
        writer.write(
            b"POST /e HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\n"
            b"Expect: 100-continue\r\n\r\nhi"  # body sent without waiting for the 100
        )
        await asyncio.sleep(0.01)
        release.set()
        assert (await read_response(reader))[2] == b"/slow"
        assert (await read_response(reader))[2] == b"/e"
        writer.write(get("/after"))
        assert (await read_response(reader))[:1] == (200,)  # not a late "100 Continue"
        writer.close()


async def test_bad_handler_responses_become_500_and_statuses_are_framed() -> None:
    async def handler(request: Request) -> Response:
        if request.path == "/bad-status":
            return Response(status=42)
        if request.path == "/bad-header":
            return Response(headers=[("x-emoji", "\U0001f600")])
        if request.path == "/enum":
            return Response(status=HTTPStatus.CREATED, body=b"made")
        return Response(status=204)

    async with running(handler) as server:
        reader, writer = await connect(server)
        for path in ("/bad-status", "/bad-header"):
            writer.write(get(path))
            assert (await read_response(reader))[0] == 500
        writer.write(get("/enum"))
        assert (await read_response(reader))[::2] == (201, b"made")
        writer.write(get("/empty") + get("/enum"))
        status, headers = await read_head(reader)
        assert status == 204 and "content-length" not in headers
        assert (await read_response(reader))[::2] == (201, b"made")
        writer.close()


async def test_head_has_no_body_and_connection_stays_usable() -> None:
    async def handler(request: Request) -> Response:
        return Response(body=b"0123456789")

    async with running(handler) as server:
        reader, writer = await connect(server)
        writer.write(b"HEAD / HTTP/1.1\r\nHost: t\r\n\r\n")
        status, headers, _ = await read_response(reader, head_request=True)
        assert (status, headers["content-length"]) == (200, "10")
        writer.write(get("/"))
        assert (await read_response(reader))[2] == b"0123456789"
        writer.close()


async def test_connection_close_and_http10() -> None:
    async with running(echo) as server:
        reader, writer = await connect(server)
        writer.write(get("/", "Connection: close\r\n"))
        status, headers, _ = await read_response(reader)
        assert (status, headers["connection"]) == (200, "close")
        await assert_closed(reader)

        reader, writer = await connect(server)
        writer.write(b"GET / HTTP/1.0\r\n\r\n")
        status, headers, _ = await read_response(reader)
        assert (status, headers["connection"]) == (200, "close")
        await assert_closed(reader)

        reader, writer = await connect(server)
        for _ in range(2):
            writer.write(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
            status, headers, _ = await read_response(reader)
            assert (status, headers["connection"]) == (200, "keep-alive")
        writer.close()


# -- errors ------------------------------------------------------------------------------------


async def test_413_by_content_length_with_expect_answers_at_once() -> None:
    async with running(echo, max_body_size=1000) as server:
        reader, writer = await connect(server)
        writer.write(
            b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 1001\r\nExpect: 100-continue\r\n\r\n"
        )
        status, headers, body = await read_response(reader)
        assert (status, headers["connection"]) == (413, "close")
        assert orjson.loads(body)["error"]["type"] == "invalid_request_error"
        await assert_closed(reader)


async def test_413_by_content_length_with_body_sent() -> None:
    async with running(echo, max_body_size=1000) as server:
        reader, writer = await connect(server)
        writer.write(b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 3000\r\n\r\n" + b"x" * 3000)
        status, _, _ = await read_response(reader)
        assert status == 413
        await assert_closed(reader)


async def test_413_by_chunked_overflow_uses_error_responder() -> None:
    calls: list[tuple[int, str]] = []

    def responder(status: int, message: str) -> Response:
        calls.append((status, message))
        return Response(status, [("content-type", "text/plain")], b"custom")

    async with running(echo, max_body_size=100, error_responder=responder) as server:
        reader, writer = await connect(server)
        writer.write(b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n")
        for _ in range(3):
            writer.write(b"3c\r\n" + b"y" * 60 + b"\r\n")
        status, _, body = await read_response(reader)
        assert (status, body) == (413, b"custom")
        assert [c[0] for c in calls] == [413]
        await assert_closed(reader)


async def test_400_on_garbage() -> None:
    called = False

    async def handler(request: Request) -> Response:
        nonlocal called
        called = True
        return Response()

    async with running(handler) as server:
        reader, writer = await connect(server)
        writer.write(b"\x00\x01 nonsense \xff\r\n\r\n")
        status, headers, body = await read_response(reader)
        assert (status, headers["connection"]) == (400, "close")
        assert orjson.loads(body)["error"]["type"] == "invalid_request_error"
        await assert_closed(reader)
        assert not called


async def test_handler_exception_gives_500_json_without_traceback(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def handler(request: Request) -> Response:
        if request.path == "/boom":
            raise RuntimeError("secret-internal-detail")
        return Response(body=b"fine")

    async with running(handler) as server:
        reader, writer = await connect(server)
        with caplog.at_level(logging.ERROR, logger="tokenway.http"):
            writer.write(get("/boom"))
            status, _, body = await read_response(reader)
        assert status == 500
        error = orjson.loads(body)["error"]
        assert error == {
            "message": "Internal server error.",
            "type": "server_error",
            "param": None,
            "code": None,
        }
        assert b"secret" not in body and b"Traceback" not in body
        assert any(
            r.exc_info and "secret-internal-detail" in str(r.exc_info[1]) for r in caplog.records
        )
        writer.write(get("/ok"))  # the connection survives a handler crash
        assert (await read_response(reader))[2] == b"fine"
        writer.close()


def test_default_error_responder_shape() -> None:
    response = default_error_responder(404, "nope")
    assert response.status == 404
    assert ("content-type", "application/json") in response.headers
    assert orjson.loads(response.body) == {
        "error": {"message": "nope", "type": "invalid_request_error", "param": None, "code": None}
    }


# -- streaming ---------------------------------------------------------------------------------


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


# -- lifecycle ---------------------------------------------------------------------------------


async def test_idle_keepalive_connection_times_out() -> None:
    async with running(echo, keepalive_timeout=0.1) as server:
        reader, writer = await connect(server)
        writer.write(get("/"))
        await read_response(reader)
        started = time.monotonic()
        await assert_closed(reader)
        assert 0.05 < time.monotonic() - started < 1.0


async def test_shutdown_waits_for_in_flight_and_closes_idle() -> None:
    release = asyncio.Event()

    async def handler(request: Request) -> Response:
        if request.path == "/slow":
            await release.wait()
        return Response(body=request.path.encode())

    server = HTTPServer(handler)
    await server.start()
    idle_reader, idle_writer = await connect(server)
    idle_writer.write(get("/fast"))
    await read_response(idle_reader)
    busy_reader, busy_writer = await connect(server)
    busy_writer.write(get("/slow"))
    while server.in_flight == 0:
        await asyncio.sleep(0.005)

    shutdown = asyncio.create_task(server.shutdown(timeout=T))
    await assert_closed(idle_reader)  # the idle connection closes at once
    with pytest.raises(OSError):
        await connect(server)  # no new connections
    await asyncio.sleep(0.02)
    assert not shutdown.done() and server.in_flight == 1
    release.set()
    status, headers, body = await read_response(busy_reader)
    assert (status, headers["connection"], body) == (200, "close", b"/slow")
    await assert_closed(busy_reader)
    await asyncio.wait_for(shutdown, T)
    assert server.in_flight == 0
    await server.shutdown()  # idempotent
    await close_clients()


async def test_shutdown_timeout_closes_what_remains() -> None:
    cancelled = asyncio.Event()

    async def handler(request: Request) -> Response:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.set()
            raise
        return Response()

    server = HTTPServer(handler)
    await server.start()
    reader, writer = await connect(server)
    writer.write(get("/stuck"))
    while server.in_flight == 0:
        await asyncio.sleep(0.005)
    started = time.monotonic()
    await server.shutdown(timeout=0.1)
    assert time.monotonic() - started < 1.0
    assert cancelled.is_set()
    with contextlib.suppress(ConnectionError):
        await assert_closed(reader)
    assert server.in_flight == 0
    await close_clients()


# -- event loops -------------------------------------------------------------------------------


def test_install_uvloop() -> None:
    uvloop = pytest.importorskip("uvloop")
    saved = asyncio.get_event_loop_policy()
    try:
        assert install_uvloop() is True
        assert isinstance(asyncio.get_event_loop_policy(), uvloop.EventLoopPolicy)
    finally:
        asyncio.set_event_loop_policy(saved)


@pytest.mark.parametrize(
    "scenario",
    [
        test_get_and_post_echo,
        test_pipelined_requests_answered_in_order_one_at_a_time,
        test_expect_100_continue,
        test_413_by_chunked_overflow_uses_error_responder,
        test_stream_chunks_arrive_incrementally,
        test_client_disconnect_mid_stream_sets_disconnected_and_closes_generator,
        test_slow_reader_backpressures_the_stream,
        test_shutdown_waits_for_in_flight_and_closes_idle,
    ],
    ids=lambda f: f.__name__.removeprefix("test_"),
)
def test_under_uvloop(scenario: Any) -> None:
    uvloop = pytest.importorskip("uvloop")
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(scenario())
