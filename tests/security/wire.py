"""Raw-socket clients for the attack tests: bytes in, the exact bytes of the answer out.

Every call is bounded in time; nothing here talks to anything but 127.0.0.1.
"""

from __future__ import annotations

import socket
import time
from dataclasses import dataclass
from typing import Any

import orjson

MASTER_AUTH = "Authorization: Bearer sk-test-master-key\r\n"


@dataclass
class WireResponse:
    status: int
    head: bytes  # the status line and header lines, as sent (without the blank line)
    headers: list[tuple[str, str]]  # in order, names lowercased, repeats kept
    body: bytes
    rest: bytes  # bytes that followed this response on the connection (should be none)

    def header(self, name: str) -> str | None:
        values = [v for n, v in self.headers if n == name]
        return values[0] if values else None

    def json(self) -> Any:
        return orjson.loads(self.body)

    def error(self) -> dict[str, Any]:
        """The OpenAI error envelope's inner object; asserts the envelope's shape."""
        data = self.json()
        error = data["error"]
        assert set(error) >= {"message", "type", "param", "code"}, data
        return dict(error)


def connect(port: int, timeout: float = 5.0) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def request_bytes(
    method: str,
    path: str,
    body: bytes | None = None,
    headers: str = "",
    *,
    auth: str = MASTER_AUTH,
) -> bytes:
    """An HTTP/1.1 request; ``headers`` are extra raw lines, each ending in CRLF."""
    length = f"Content-Length: {len(body)}\r\n" if body is not None else ""
    kind = "Content-Type: application/json\r\n" if body is not None else ""
    head = f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{auth}{kind}{length}{headers}\r\n"
    return head.encode("latin-1") + (body or b"")


def read_until_close(sock: socket.socket, deadline: float = 5.0) -> bytes:
    """Everything the server sends until it closes (or ``deadline`` seconds pass)."""
    end = time.monotonic() + deadline
    chunks = []
    while (left := end - time.monotonic()) > 0:
        sock.settimeout(left)
        try:
            data = sock.recv(65536)
        except TimeoutError:
            break
        except ConnectionResetError:
            break
        if not data:
            break
        chunks.append(data)
    return b"".join(chunks)


def parse_response(data: bytes) -> WireResponse:
    """One response off the front of ``data`` (content-length or chunked framing)."""
    head, sep, rest = data.partition(b"\r\n\r\n")
    assert sep, f"no complete response head in {data[:200]!r}"
    lines = head.split(b"\r\n")
    status = int(lines[0].split(b" ")[1])
    headers = []
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        headers.append((name.decode("latin-1").lower(), value.strip().decode("latin-1")))
    names = dict(headers)
    if names.get("transfer-encoding") == "chunked":
        body, rest = _dechunk(rest)
    elif "content-length" in names:
        n = int(names["content-length"])
        body, rest = rest[:n], rest[n:]
    else:
        body, rest = rest, b""
    return WireResponse(status, head, headers, body, rest)


def exchange(port: int, raw: bytes, deadline: float = 5.0) -> WireResponse:
    """Send ``raw``, read until the server closes (or ``deadline``), parse one response."""
    with connect(port, deadline) as sock:
        sock.sendall(raw)
        return parse_response(read_until_close(sock, deadline))


def send_json(
    port: int, method: str, path: str, body: Any, *, auth: str = MASTER_AUTH
) -> WireResponse:
    """One request with a JSON body (``bytes`` are sent as they are), then close."""
    payload = body if isinstance(body, bytes) else orjson.dumps(body)
    raw = request_bytes(method, path, payload, "Connection: close\r\n", auth=auth)
    with connect(port) as sock:
        sock.sendall(raw)
        return parse_response(read_until_close(sock))


def _dechunk(data: bytes) -> tuple[bytes, bytes]:
    out = []
    while True:
        size_line, sep, data = data.partition(b"\r\n")
        assert sep, "chunked body cut off"
        size = int(size_line.split(b";")[0], 16)
        if size == 0:
            _, _, data = data.partition(b"\r\n")
            return b"".join(out), data
        out.append(data[:size])
        data = data[size + 2 :]
