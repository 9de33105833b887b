"""tokenway.http.server's connection lifecycle: idle timeouts and shutdown."""

from __future__ import annotations

import asyncio
import contextlib
import time

import pytest
from tests.http.server_helpers import (
    T,
    assert_closed,
    close_clients,
    connect,
    echo,
    get,
    read_response,
    running,
)

from tokenway.http.server import Handler, HTTPServer, Request, Response


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
    handler = _waits_until_cancelled(cancelled)

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


async def _start_orphan(handler: Handler) -> tuple[HTTPServer, list[Request]]:
    """A server whose one request's client has gone (closed) while its handler runs."""
    requests: list[Request] = []

    async def tracked(request: Request) -> Response:
        requests.append(request)
        return await handler(request)

    server = HTTPServer(tracked)
    await server.start()
    _, writer = await connect(server)
    writer.write(get("/work"))
    while not requests:
        await asyncio.sleep(0.005)
    writer.close()
    await asyncio.wait_for(requests[0].disconnected.wait(), T)  # the server saw it leave
    return server, requests


async def test_shutdown_waits_for_a_handler_whose_client_left() -> None:
    release = asyncio.Event()
    recorded: list[str] = []

    async def handler(request: Request) -> Response:
        await release.wait()
        recorded.append(request.path)  # e.g. a spend row, written after the client left
        return Response()

    server, _ = await _start_orphan(handler)
    assert server.in_flight == 1
    shutdown = asyncio.create_task(server.shutdown(timeout=T))
    await asyncio.sleep(0.05)
    assert not shutdown.done()
    release.set()
    await asyncio.wait_for(shutdown, T)
    assert recorded == ["/work"] and server.in_flight == 0
    await close_clients()


async def test_shutdown_timeout_cancels_a_handler_whose_client_left() -> None:
    cancelled = asyncio.Event()
    handler = _waits_until_cancelled(cancelled)

    server, _ = await _start_orphan(handler)
    started = time.monotonic()
    await server.shutdown(timeout=0.1)
    assert time.monotonic() - started < 1.0
    assert cancelled.is_set() and server.in_flight == 0
    await close_clients()


async def test_a_client_that_half_closes_gets_its_answer_then_the_close() -> None:
    async def slow(request: Request) -> Response:
        await asyncio.sleep(0.05)  # the FIN arrives while the handler runs
        return await echo(request)

    async with running(slow) as server:
        reader, writer = await connect(server)
        writer.write(get("/half"))
        writer.write_eof()
        status, _, _ = await read_response(reader, head_request=True)  # the probing 100
        assert status == 100
        status, _, body = await read_response(reader)
        assert status == 200 and b'"/half"' in body
        await assert_closed(reader)


def _waits_until_cancelled(cancelled: asyncio.Event) -> Handler:
    """A handler that never answers; ``cancelled`` is set when it is cancelled."""

    async def handler(request: Request) -> Response:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.set()
            raise
        return Response()

    return handler
