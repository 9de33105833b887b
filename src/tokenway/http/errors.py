"""Errors raised by tokenway's outbound HTTP clients (:mod:`.aclient`, :mod:`.sclient`).

Only these escape the clients: raw ``OSError``, ``ssl.SSLError`` and httptools parser
errors are mapped onto them (the original is kept as ``__cause__`` where there is one).
This module depends on nothing else in tokenway.
"""

from __future__ import annotations

import socket
import ssl

__all__ = [
    "ConnectError",
    "ConnectTimeout",
    "HTTPError",
    "ReadTimeout",
    "RemoteProtocolError",
    "connect_error",
]


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
    if isinstance(e, TimeoutError):
        return ConnectTimeout(f"timed out connecting to {label} after {max(limit, 0):.3g}s")
    if isinstance(e, ConnectionRefusedError):
        return ConnectError(f"connection refused by {label}")
    if isinstance(e, socket.gaierror):
        return ConnectError(f"cannot resolve {host!r} ({label}): {e}")
    if isinstance(e, ssl.SSLError):
        return ConnectError(f"TLS handshake with {label} failed: {e}")
    return ConnectError(f"cannot connect to {label}: {e}")
