"""tokenway.http's request limits (``_intake.py``, ``limits.py``): what is refused and,
as much, what must not be (heads split over many reads, pipelined bodies, repeats)."""

from __future__ import annotations

import asyncio

import orjson
import pytest
from tests.http.server_helpers import T, assert_closed, connect, echo, get, read_response, running

from tokenway.http.limits import ServerLimits, default_max_connections
from tokenway.http.server import Request, Response

SMALL = ServerLimits(
    max_request_line_bytes=100, max_header_line_bytes=200, max_header_bytes=600, max_header_count=8
)


async def _send_in_pieces(writer: asyncio.StreamWriter, data: bytes, size: int) -> None:
    for start in range(0, len(data), size):
        writer.write(data[start : start + size])
        await writer.drain()
        await asyncio.sleep(0.001)  # one read each


async def test_repeated_header_names_are_joined_in_order() -> None:
    async with running(echo) as server:
        reader, writer = await connect(server)
        writer.write(get("/", "X-Dup: a\r\nX-Other: o\r\nX-Dup: b\r\nx-dup: c\r\n"))
        status, _, body = await read_response(reader)
    assert status == 200
    headers = orjson.loads(body)["headers"]
    assert headers["x-dup"] == "a, b, c" and headers["x-other"] == "o"


async def test_a_head_at_the_limits_split_over_many_reads_is_served() -> None:
    lines = "".join(f"X-{i}: {'v' * 90}\r\n" for i in range(5))  # 5 of 8 lines, ~490 bytes
    async with running(echo, limits=SMALL) as server:
        reader, writer = await connect(server)
        await _send_in_pieces(writer, get("/" + "p" * 90, lines), 7)
        status, _, _ = await read_response(reader)
    assert status == 200


@pytest.mark.parametrize(
    ("extra", "status"),
    [
        ("X-Long: " + "v" * 300 + "\r\n", 431),  # one line over 200
        ("".join(f"X-{i}: {'v' * 150}\r\n" for i in range(5)), 431),  # 800 bytes over 600
        ("".join(f"X-{i}: v\r\n" for i in range(8)), 431),  # 9 lines with Host
        ("".join("X-Same: v\r\n" for _ in range(8)), 431),  # repeats count too
    ],
    ids=["line", "head", "count", "repeats"],
)
async def test_heads_over_a_limit_are_refused_whether_in_one_read_or_many(
    extra: str, status: int
) -> None:
    for piece in (65536, 5):
        async with running(echo, limits=SMALL) as server:
            reader, writer = await connect(server)
            await _send_in_pieces(writer, get("/", extra), piece)
            got, headers, _ = await read_response(reader)
            assert (got, headers["connection"]) == (status, "close"), piece
            await assert_closed(reader)


async def test_a_long_request_target_is_414_even_before_it_ends() -> None:
    async with running(echo, limits=SMALL) as server:
        reader, writer = await connect(server)
        await _send_in_pieces(writer, b"GET /" + b"p" * 300, 50)  # no end of line yet
        status, headers, _ = await read_response(reader)
    assert (status, headers["connection"]) == (414, "close")


async def test_a_header_line_that_never_ends_is_refused_after_a_line_and_a_read() -> None:
    async with running(echo, limits=SMALL) as server:
        reader, writer = await connect(server)
        writer.write(b"GET / HTTP/1.1\r\nHost: t\r\nX-Endless: ")
        await _send_in_pieces(writer, b"v" * 400, 50)
        status, _, _ = await read_response(reader)
    assert status == 431


async def test_a_pipelined_big_body_does_not_count_toward_the_next_head() -> None:
    body = b"b" * 5000  # far over SMALL's 600-byte head, no newline in it
    post = b"POST /a HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n\r\n%b" % (len(body), body)
    async with running(echo, limits=SMALL) as server:
        reader, writer = await connect(server)
        second = get("/b")
        writer.write(post + second[:10])  # the next head begins in the body's read
        await writer.drain()
        await asyncio.sleep(0.01)
        writer.write(second[10:])
        first = await read_response(reader)
        after = await read_response(reader)
    assert (first[0], after[0]) == (200, 200)
    assert orjson.loads(after[2])["path"] == "/b"


def test_limits_are_checked() -> None:
    with pytest.raises(ValueError, match="max_header_bytes"):
        ServerLimits(max_header_bytes=0)
    with pytest.raises(ValueError):
        ServerLimits(header_timeout=0)
    with pytest.raises(ValueError):
        ServerLimits(max_connections=-1)
    assert ServerLimits(max_connections=7).connection_cap() == 7


def test_the_connection_cap_leaves_file_descriptors_to_spare() -> None:
    import resource

    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    cap = default_max_connections()
    assert ServerLimits().connection_cap() == cap
    assert cap >= 16 and (soft == resource.RLIM_INFINITY or 2 * cap < soft)


async def test_a_client_that_closes_mid_request_is_noticed_at_once() -> None:
    """A FIN mid-request may be a half-close; the server's probe tells a client that left."""
    seen: list[asyncio.Event] = []

    async def slow(request: Request) -> Response:
        seen.append(request.disconnected)
        await asyncio.sleep(T)
        return await echo(request)

    async with running(slow) as server:
        _, writer = await connect(server)
        writer.write(get("/"))
        while not seen:
            await asyncio.sleep(0.005)
        writer.close()
        await asyncio.wait_for(seen[0].wait(), 1.0)
