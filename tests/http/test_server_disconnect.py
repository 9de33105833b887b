"""tokenway.http.server when a client's connection is lost mid-request: a handler that
set ``request.cancel_on_disconnect`` is cancelled, any other runs to its end."""

from __future__ import annotations

import asyncio

import pytest
from tests.http.server_helpers import T, connect, get, running

from tokenway.http.server import Request, Response


@pytest.mark.parametrize("opted_in", [True, False])
async def test_a_lost_connection_cancels_only_a_handler_that_opted_in(opted_in: bool) -> None:
    started, finished = asyncio.Event(), asyncio.Event()
    cancelled: list[bool] = []

    async def handler(request: Request) -> Response:
        request.cancel_on_disconnect = opted_in
        started.set()
        try:
            await asyncio.sleep(0.2)  # the upstream call, or an admin write
        except asyncio.CancelledError:
            cancelled.append(True)
            raise
        finally:
            finished.set()
        return Response(body=b"done")

    async with running(handler) as server:
        _, writer = await connect(server)
        writer.write(get("/"))
        await asyncio.wait_for(started.wait(), T)
        writer.transport.abort()  # the client is gone
        await asyncio.wait_for(finished.wait(), T)
        assert cancelled == ([True] if opted_in else [])
        assert server.in_flight == 0
