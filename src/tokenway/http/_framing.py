"""How a response goes on the wire: status lines and content-length framing (internal).

Used by :mod:`tokenway.http._protocol`; chunked streams are framed there, as they are written.
"""

from __future__ import annotations

from http import HTTPStatus

from tokenway.http._messages import Response

_BIG_BODY = 64 * 1024  # bodies above this get their own write (not copied into the head)
_NO_BODY_STATUSES = frozenset({204, 304})

_STATUS_LINES: dict[int, bytes] = {}


def status_line(status: int) -> bytes:
    line = _STATUS_LINES.get(status)
    if line is None:
        if not 100 <= status <= 599:
            raise ValueError(f"invalid HTTP status {status!r}")
        status = int(status)
        try:
            phrase = HTTPStatus(status).phrase.encode()
        except ValueError:
            phrase = b""
        line = _STATUS_LINES[status] = b"HTTP/1.1 %d %s\r\n" % (status, phrase)
    return line


def frame_response(response: Response, head: list[bytes], is_head: bool) -> tuple[bytes, bytes]:
    """The bytes to write: head and (small) body joined, plus a big body kept apart."""
    body = response.body
    status = response.status
    if status in _NO_BODY_STATUSES or status < 200:
        head.append(b"\r\n")
        return b"".join(head), b""
    head.append(b"content-length: %d\r\n\r\n" % len(body))
    if is_head or not body:
        return b"".join(head), b""
    if len(body) > _BIG_BODY:
        return b"".join(head), bytes(body)  # (bytes() of bytes is no copy)
    head.append(body)
    return b"".join(head), b""
