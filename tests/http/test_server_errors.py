"""tokenway.http.server's error answers: 413 for big bodies, 400 for garbage, 500 for a
crashing handler, and the default error responder."""

from __future__ import annotations

import logging

import orjson
import pytest
from tests.http.server_helpers import assert_closed, connect, echo, get, read_response, running

from tokenway.http.server import Request, Response, default_error_responder


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
