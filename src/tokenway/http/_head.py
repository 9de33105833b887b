"""What both HTTP clients do with a response head: the httptools callbacks they share.

The sync and the async connection classes mix this in; each supplies the attributes
declared here (in its own ``__slots__``) and may override ``head_ready``.
"""

from __future__ import annotations

from typing import Any

from .errors import RemoteProtocolError, decode_headers


class StaleConnection(RemoteProtocolError):
    """Closed before any response byte: on a reused connection, retried once."""


class ResponseHead:
    # No __slots__ here: mypy rejects assigning slots a mixin does not own; the classes
    # mixing this in declare them.

    parser: Any
    complete: bool
    informational: bool
    raw_headers: list[tuple[bytes, bytes]]
    status: int
    headers: dict[str, str]
    head_done: bool
    skip_body: bool
    keep_alive: bool
    parser_dirty: bool  # a HEAD response left the parser expecting a body

    def notify(self) -> None:
        """Called when the final (non-1xx) response's head, and later its end, are read."""

    def on_message_begin(self) -> None:
        if self.complete:  # a second response in one read: refuse it
            raise RemoteProtocolError("unexpected extra response")

    def on_header(self, name: bytes, value: bytes) -> None:
        self.raw_headers.append((name, value))

    def on_headers_complete(self) -> None:
        status = self.parser.get_status_code()
        if status < 200:  # 1xx informational: skip, the real response follows
            self.informational = True
            self.raw_headers = []
            return
        self.status = status
        self.headers = decode_headers(self.raw_headers)
        self.head_done = True
        if self.skip_body:  # HEAD: no body whatever the headers say
            self.complete = self.parser_dirty = True
            self.keep_alive = self.parser.should_keep_alive()
        self.notify()

    def on_message_complete(self) -> None:
        if self.informational:
            self.informational = False
        elif self.head_done and not self.skip_body:
            self.complete = True
            self.keep_alive = self.parser.should_keep_alive()
            self.notify()
