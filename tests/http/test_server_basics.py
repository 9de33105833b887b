"""tokenway.http.server over real loopback sockets: requests, keep-alive, pipelining,
100-continue, HEAD and HTTP/1.0."""

from __future__ import annotations

import asyncio
import http.client
import re
from collections.abc import AsyncIterator
from http import HTTPStatus

import orjson
from tests.http.server_helpers import (
    T,
    assert_closed,
    connect,
    echo,
    get,
    read_head,
    read_response,
    running,
)

from tokenway.http.server import Request, Response


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
        writer.write(get("/bad-status"))
        assert (await read_response(reader))[0] == 500
        writer.write(get("/bad-header"))  # a header that cannot be sent is dropped, no 500
        status, headers, _ = await read_response(reader)
        assert status == 200 and "x-emoji" not in headers
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


async def test_a_header_block_is_written_after_the_headers() -> None:
    async def handler(request: Request) -> Response:
        block = b"x-one: 1\r\nx-two: 2\r\n"
        if request.path == "/stream":

            async def body() -> AsyncIterator[bytes]:
                yield b"hi"

            return Response(200, [("x-zero", "0")], stream=body(), header_block=block)
        return Response(200, [("x-zero", "0")], b"ok", header_block=block)

    async with running(handler) as server:
        reader, writer = await connect(server)
        for path in ("/plain", "/stream"):
            writer.write(get(path))
            status, headers, body = await read_response(reader)
            assert status == 200 and body in (b"ok", b"hi")
            assert (headers["x-zero"], headers["x-one"], headers["x-two"]) == ("0", "1", "2")
