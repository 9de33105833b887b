"""tokenway.http._headers: every response header line is checked where it is rendered."""

from __future__ import annotations

import logging
import random
import string
from collections.abc import AsyncIterator

import orjson
import pytest
from tests.http.server_helpers import connect, read_response, running

from tokenway.http import _headers
from tokenway.http._headers import (
    MAX_VALUE,
    BlockTemplate,
    CheckedBlock,
    checked_block,
    header_line,
    header_lines,
)
from tokenway.http.server import HTTPServer, Request, Response

TCHARS = set("!#$%&'*+-.^_`|~" + string.ascii_letters + string.digits)


def sendable(text: str) -> bool:
    return all(ord(c) < 256 and c not in "\r\n\0" for c in text)


def good(name: object, value: object) -> bool:
    """An oracle for a header of ``Response.headers``, written apart from the module."""
    return sendable(f"{name}") and sendable(f"{value}") and len(f"{value}") <= MAX_VALUE


def good_block_line(name: str, value: str) -> bool:
    """The stricter oracle for a line of a header block."""
    framing = ("content-length", "transfer-encoding", "connection")
    return name != "" and set(name) <= TCHARS and name.lower() not in framing and good(name, value)


def expected(headers: list[tuple[str, str]]) -> bytes:
    return b"".join(f"{n}: {v}\r\n".encode("latin-1") for n, v in headers if good(n, v))


# -- header_lines ---------------------------------------------------------------------------


def test_good_headers_render_as_name_colon_space_value_crlf_in_order() -> None:
    headers = [("content-type", "application/json"), ("x-a", "1\t2 é\xff"), ("X-B", "")]
    assert (
        header_lines(headers)
        == b"content-type: application/json\r\nx-a: 1\t2 \xe9\xff\r\nX-B: \r\n"
    )


@pytest.mark.parametrize(
    "value",
    [
        "x\r\nSet-Cookie: a=1",
        "x\nSet-Cookie: a=1",
        "x\rSet-Cookie: a=1",
        "x\x00y",
        "\u2603",
        "x" * (MAX_VALUE + 1),
    ],
    ids=["crlf", "lf", "cr", "nul", "not-latin-1", "too-long"],
)
def test_a_bad_value_drops_only_its_header(value: str) -> None:
    headers = [("a", "1"), ("x-bad", value), ("b", "2")]
    assert header_lines(headers) == b"a: 1\r\nb: 2\r\n"


@pytest.mark.parametrize("name", ["a\r\nb", "a\nb", "a\rb", "x\x00", "\u2603"])
def test_a_name_that_cannot_be_sent_drops_its_header(name: str) -> None:
    assert header_lines([("a", "1"), (name, "v"), ("b", "2")]) == b"a: 1\r\nb: 2\r\n"


def test_other_names_are_the_handlers_business() -> None:
    """Names are constants of the code: only what could split the response is checked
    on each response (tests/security checks every name the proxy sends)."""
    assert header_lines([("a b", "1")]) == b"a b: 1\r\n"


def test_other_control_characters_are_the_producers_business() -> None:
    """Only what can split a response is refused; the proxy encodes what it echoes."""
    assert header_lines([("x-a", "\x0b\x7f\x1b")]) == b"x-a: \x0b\x7f\x1b\r\n"


def test_a_value_that_is_no_str_is_formatted() -> None:
    assert header_lines([("x-n", 5)]) == b"x-n: 5\r\n"  # type: ignore[list-item]


def test_a_value_of_exactly_the_bound_is_kept() -> None:
    value = "v" * MAX_VALUE
    assert header_lines([("x-long", value)]) == f"x-long: {value}\r\n".encode()


def test_a_dropped_header_is_logged_once_per_name(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, "tokenway.http")
    for _ in range(5):
        header_lines([("x-once-only", "a\r\nb"), ("ok", "1")])
        checked_block(b"x-once-only: a\rb\r\n")
    messages = [r.getMessage() for r in caplog.records if "x-once-only" in r.getMessage()]
    assert len(messages) == 1 and "dropped" in messages[0]


def _fast_path_declines(headers: list[tuple[str, str]]) -> bool:
    """Whether ``header_lines`` falls back to checking ``headers`` one by one."""
    calls: list[object] = []
    slow = _headers._slow_lines
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(_headers, "_slow_lines", lambda h: calls.append(h) or slow(h))
        header_lines(headers)
    return bool(calls)


def test_the_fast_path_takes_good_headers_and_declines_the_rest() -> None:
    assert not _fast_path_declines([("x-a", "1"), ("content-type", "text/plain")])
    assert _fast_path_declines([("x-a", "a\nb")])
    assert _fast_path_declines([("x-a\r", "b")])
    assert _fast_path_declines([("x-a", "\u2603")])
    assert _fast_path_declines([("x-a", "v" * MAX_VALUE)])
    assert _fast_path_declines([("x-a", 5)])  # type: ignore[list-item]


# A seeded random check of many generated lists: the fast path, the slow path and an
# independent oracle agree. Values mix harmless text with every kind of bad character.
_NAMES = ["content-type", "x-request-id", "x-a", "X-Mixed-Case", "a"]
_NAMES += ["", "a b", "a:b", "é", "\n", "Content-Length", "connection"]
_PIECES = ["abc", " ", "\t", "ü", "\xff", "\x1f", "\x7f", "\r", "\n", "\r\n", "\x00", "☃"]


def _random_headers(rng: random.Random) -> list[tuple[str, str]]:
    headers = []
    for _ in range(rng.randrange(0, 8)):
        name = rng.choice(_NAMES) if rng.random() < 0.3 else rng.choice(_NAMES[:5])
        pieces = _PIECES if rng.random() < 0.2 else _PIECES[:7]
        value = "".join(rng.choice(pieces) for _ in range(rng.randrange(0, 6)))
        if rng.random() < 0.02:
            value += "v" * rng.randrange(MAX_VALUE - 20, MAX_VALUE + 2)
        headers.append((name, value))
    return headers


def test_fast_and_slow_paths_agree_with_the_oracle_on_random_headers() -> None:
    rng = random.Random(20261206)
    fast_taken = 0
    for _ in range(4000):
        headers = _random_headers(rng)
        want = expected(headers)
        assert header_lines(headers) == want, headers
        assert _headers._slow_lines(headers) == want, headers
        fast_taken += not _fast_path_declines(headers)
    assert fast_taken > 1000  # the generator does exercise the fast path


# -- checked_block --------------------------------------------------------------------------


def test_a_good_block_is_passed_through_as_it_is() -> None:
    block = b"x-ratelimit-limit-requests: 10\r\nx-ratelimit-remaining-requests: 9\r\n"
    assert checked_block(block) is block


@pytest.mark.parametrize(
    "block",
    [
        b"a: 1\r\nb: x\ny\r\nc: 3\r\n",
        b"a: 1\r\nb: x\ry\r\nc: 3\r\n",
        b"a: 1\r\nb: x\x00y\r\n",
        b"a: 1\r\n\r\nHTTP/1.1 200 OK\r\nx-c: 3\r\n",
        b"a: 1\r\nb: no end",
        b"a b: 1\r\nc: 2\r\n",
        b"a: 1\r\nContent-Length: 2\r\n",
        b"a: 1\r\ntransfer-encoding: chunked\r\n",
        b"a: 1\r\nb: " + b"v" * MAX_VALUE + b"\r\n",
    ],
    ids=[
        "lf", "cr", "nul", "second-response", "no-crlf", "bad-name", "content-length",
        "transfer-encoding", "too-long",
    ],
)  # fmt: skip
def test_a_block_with_any_bad_line_is_dropped_whole(block: bytes) -> None:
    assert checked_block(block) == b""


def test_a_block_template_is_checked_once_and_its_blocks_pass_as_they_are() -> None:
    template = BlockTemplate(b"x-limit: 10\r\nx-remaining: %d\r\nx-reset: %ds\r\n")
    block = template.render(-3, 2)
    assert isinstance(block, CheckedBlock) and checked_block(block) is block
    assert block == b"x-limit: 10\r\nx-remaining: -3\r\nx-reset: 2s\r\n"


@pytest.mark.parametrize(
    "template",
    [b"x-a: %s\r\n", b"x-a: %d", b"x a: %d\r\n", b"content-length: %d\r\n", b"x: 1\r\n\r\n"],
)
def test_a_bad_block_template_is_refused_when_made(template: bytes) -> None:
    with pytest.raises(ValueError):
        BlockTemplate(template)


def test_framing_names_are_refused_in_a_block_only_as_whole_names() -> None:
    block = b"content-length-x: 1\r\nx-connection: 2\r\n"
    assert checked_block(block) == block


def block_is_good(block: bytes) -> bool:
    """The oracle for a block, which the server reads line by line as a client would."""
    *lines, last = block.split(b"\r\n")
    if last or len(block) > MAX_VALUE:
        return False
    for line in lines:
        name, colon, value = line.decode("latin-1").partition(":")
        if not colon or not good_block_line(name, value):
            return False
    return True


def test_random_blocks_agree_with_the_oracle() -> None:
    rng = random.Random(61202026)
    whole = 0
    for _ in range(3000):
        headers = _random_headers(rng)
        block = b"".join(f"{n}: {v}\r\n".encode("latin-1", "replace") for n, v in headers)
        want = block if block_is_good(block) else b""
        assert checked_block(block) == want, block
        whole += bool(want)
    assert whole > 500  # both outcomes are exercised


# -- header_line and the server -------------------------------------------------------------


def test_header_line_renders_one_line_or_none() -> None:
    assert header_line("server", "tokenway") == b"server: tokenway\r\n"
    assert header_line("server", "a\r\nb") is None


def test_a_server_header_that_cannot_be_sent_is_refused_at_construction() -> None:
    with pytest.raises(ValueError, match="server_header"):
        HTTPServer(_bad_headers, server_header="tokenway\r\nSet-Cookie: a=1")


async def _bad_headers(request: Request) -> Response:
    headers = [
        ("content-type", "application/json"),
        ("x-split", "a\r\nSet-Cookie: injected=1"),
        ("x-snow", "\u2603"),
        ("x-good", "kept"),
    ]
    if request.path.endswith("bad-block"):
        block = b"x-block: 1\r\n\r\nHTTP/1.1 200 OK\r\ncontent-length: 2\r\n"
    else:
        block = b"x-block: 1\r\n"
    if request.path.startswith("/stream"):

        async def chunks() -> AsyncIterator[bytes]:
            yield b"streamed"

        return Response(200, headers, stream=chunks(), header_block=block)
    return Response(200, headers, orjson.dumps({"ok": True}), header_block=block)


@pytest.mark.parametrize("path", ["/plain", "/stream", "/plain/bad-block", "/stream/bad-block"])
async def test_the_server_sends_the_good_headers_and_drops_the_bad(path: str) -> None:
    async with running(_bad_headers) as server:
        reader, writer = await connect(server)
        for _ in range(2):  # the connection stays usable: the next answer is read intact
            writer.write(f"GET {path} HTTP/1.1\r\nHost: t\r\n\r\n".encode())
            status, headers, body = await read_response(reader)
            assert status == 200
            assert "x-good" in headers
            assert ("x-block" in headers) is not path.endswith("bad-block")
            assert not headers.keys() & {"x-split", "x-snow", "set-cookie"}
            assert body in (b'{"ok":true}', b"streamed")
