"""What :mod:`tokenway.http.server` accepts from a client: sizes, deadlines, connections.

The defaults are those of the servers deployments already trust: nginx's and Node's 8 KiB
request and header lines, a 32 KiB head (nginx's ``large_client_header_buffers 4 8k``),
uvicorn/h11's 100 header lines. A head must arrive whole within ``header_timeout`` however
its bytes trickle (nginx's ``client_header_timeout``, Node's ``headersTimeout``); a body
within ``body_timeout`` plus its size at ``min_body_rate``. Beyond ``max_connections`` a new
connection gets a 503 and is closed, so the process never runs out of file descriptors.
"""

from __future__ import annotations

import resource
from dataclasses import dataclass

__all__ = ["ServerLimits", "default_max_connections"]

KIB = 1024
_FDS_PER_CONNECTION = 2  # the client's socket and, while it is served, an upstream one
_FD_HEADROOM = 128  # listening sockets, the database, the journal, logs, DNS, imports
_MAX_DEFAULT_CONNECTIONS = 100_000


@dataclass(frozen=True, slots=True)
class ServerLimits:
    """Limits on what a client may send; see the module docstring for the defaults' origin.

    ``max_connections`` 0 means "derived from the file-descriptor limit"
    (:func:`default_max_connections`).
    """

    max_request_line_bytes: int = 8 * KIB  # the request target; over it: 414
    max_header_line_bytes: int = 8 * KIB  # one header line; over it: 431
    max_header_bytes: int = 32 * KIB  # the whole head; over it: 431
    max_header_count: int = 100  # header lines, repeats included; over it: 431
    header_timeout: float = 10.0  # seconds for a whole head; then 408 and close
    body_timeout: float = 10.0  # seconds for a body, plus its size at min_body_rate
    min_body_rate: int = 64 * KIB  # bytes per second a body must at least arrive at
    max_connections: int = 0  # open connections; beyond it: 503 and close

    def __post_init__(self) -> None:
        for name in ("max_request_line_bytes", "max_header_line_bytes", "max_header_bytes"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1")
        if self.max_header_count < 1 or self.min_body_rate < 1 or self.max_connections < 0:
            raise ValueError("header count and body rate must be positive, connections >= 0")
        if not (self.header_timeout > 0 and self.body_timeout > 0):
            raise ValueError("header_timeout and body_timeout must be greater than 0")

    def connection_cap(self) -> int:
        return self.max_connections or default_max_connections()


def default_max_connections() -> int:
    """Half the file descriptors this process may open, less some headroom: each client
    connection may hold an upstream one while it is served."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return _MAX_DEFAULT_CONNECTIONS
    spare = (soft - _FD_HEADROOM) // _FDS_PER_CONNECTION
    return max(16, min(spare, _MAX_DEFAULT_CONNECTIONS))
