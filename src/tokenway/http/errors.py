"""Errors raised by tokenway's outbound HTTP clients (:mod:`.aclient`, :mod:`.sclient`).

Only these escape the clients: raw ``OSError``, ``ssl.SSLError`` and httptools parser
errors are mapped onto them (the original is kept as ``__cause__`` where there is one).
This module depends on nothing else in tokenway; it also holds the few URL and header
helpers both clients share, so that neither client imports the other (the proxy imports
only the async one, and ``http.client`` costs ~20 ms of start-up).
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = [
    "BODY_METHODS",
    "OWN_HEADERS",
    "ConnectError",
    "ConnectTimeout",
    "HTTPError",
    "ReadTimeout",
    "RemoteProtocolError",
    "build_request",
    "connect_error",
    "decode_headers",
    "host_label",
    "parse_origin",
    "split_url",
]

BODY_METHODS = frozenset(("POST", "PUT", "PATCH"))  # always send Content-Length
OWN_HEADERS = frozenset(("host", "content-length", "transfer-encoding"))  # we write these
_OWN_LENGTHS = frozenset(len(name) for name in OWN_HEADERS)


class HTTPError(Exception):
    """Base class of every transport error."""


class ConnectError(HTTPError):
    """No connection: refused, DNS failure, unreachable, TLS handshake failure.

    Nothing of the request was sent, so retrying elsewhere is always safe.
    """


class ConnectTimeout(ConnectError):
    """The connection (or a free pooled connection) did not come within the timeout."""


class ReadTimeout(HTTPError):
    """No (more) response bytes arrived within the timeout."""


class RemoteProtocolError(HTTPError):
    """The connection closed or reset before the response was complete, or it was malformed."""


def connect_error(e: OSError, host: str, label: str, limit: float) -> ConnectError:
    """Map an OSError raised while connecting to ``label`` (``host:port``) within ``limit`` s."""
    import socket  # here: importing the error classes stays free of ssl
    import ssl

    if isinstance(e, TimeoutError):
        return ConnectTimeout(f"timed out connecting to {label} after {max(limit, 0):.3g}s")
    if isinstance(e, ConnectionRefusedError):
        return ConnectError(f"connection refused by {label}")
    if isinstance(e, socket.gaierror):
        return ConnectError(f"cannot resolve {host!r} ({label}): {e}")
    if isinstance(e, ssl.SSLError):
        return ConnectError(f"TLS handshake with {label} failed: {e}")
    return ConnectError(f"cannot connect to {label}: {e}")


def split_url(url: str) -> tuple[str, str]:
    """'http://h:1/p?q#f' -> ('http://h:1', '/p?q')."""
    start = url.find("://") + 3
    if start < 4:
        raise ValueError(f"not an absolute http(s) URL: {url!r}")
    end = len(url)
    for sep in "/?#":
        i = url.find(sep, start)
        if 0 <= i < end:
            end = i
    target = url[end:]
    if "#" in target:
        target = target[: target.index("#")]
    return url[:end], target if target.startswith("/") else "/" + target


def parse_origin(origin: str) -> tuple[str, str, int, str]:
    """'HTTP://[::1]:8080' -> ('http', '::1', 8080, '[::1]:8080')."""
    scheme, _, netloc = origin.partition("://")
    scheme = scheme.lower()
    if scheme not in ("http", "https") or not netloc or "@" in netloc:
        raise ValueError(f"unsupported URL origin {origin!r}")
    if netloc.startswith("["):
        host, _, rest = netloc[1:].partition("]")
        port_text = rest[1:] if rest.startswith(":") else rest
    else:
        host, _, port_text = netloc.partition(":")
    default = 443 if scheme == "https" else 80
    port = int(port_text) if port_text.isdigit() else -1 if port_text else default
    if not host or not 0 < port < 65536:
        raise ValueError(f"bad host or port in {origin!r}")
    return scheme, host, port, netloc


def host_label(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def build_request(
    method: str, target: str, host: str, headers: Iterable[tuple[str, str]], body: bytes
) -> bytes:
    """The whole request, head and body, in one buffer (one write); ValueError on CR/LF."""
    lines: list[str] = []
    for name, value in headers:
        if len(name) in _OWN_LENGTHS and name.lower() in OWN_HEADERS:
            if len(name) == 4:  # Host: the caller's wins; the length we compute
                host = value
            continue
        lines.append(f"{name}: {value}\r\n")
    if body or method in BODY_METHODS:
        lines.append(f"Content-Length: {len(body)}\r\n")
    head = f"{method} {target} HTTP/1.1\r\nHost: {host}\r\n{''.join(lines)}\r\n"
    crlf = len(lines) + 3
    if head.count("\n") != crlf or head.count("\r") != crlf or " " in target or " " in method:
        raise ValueError("CR, LF or space in the method, URL or a header")
    data = head.encode()
    return data + body if body else data


def decode_headers(raw: list[tuple[bytes, bytes]]) -> dict[str, str]:
    """Parsed header fields -> {lower-cased name: value}, repeated ones joined with ", "."""
    headers: dict[str, str] = {}
    for raw_name, raw_value in raw:
        name = raw_name.decode("latin-1").lower()
        value = raw_value.decode("latin-1")
        old = headers.get(name)
        headers[name] = value if old is None else f"{old}, {value}"
    return headers
