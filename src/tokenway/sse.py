"""Server-sent events: one incremental decoder shared by sync and async streams.

Follows the WHATWG event-stream rules the OpenAI SDK follows: lines end in LF, CRLF or
CR; ``:`` lines are comments; ``data:`` lines of one event join with LF; a blank line
dispatches the event.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(slots=True)
class SSEEvent:
    data: bytes
    event: str | None = None
    id: str | None = None


class SSEDecoder:
    """Feed bytes as they arrive; get back the events they complete."""

    __slots__ = ("_buffer", "_pending_cr")

    def __init__(self) -> None:
        self._buffer = b""
        self._pending_cr = False

    def feed(self, data: bytes) -> list[SSEEvent]:
        if self._pending_cr:  # the last read ended in CR: a LF now is the rest of a CRLF
            self._pending_cr = False
            if data.startswith(b"\n"):
                data = data[1:]
        if b"\r" in data:
            self._pending_cr = data.endswith(b"\r")
            data = data.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        buffer = self._buffer + data if self._buffer else data
        if b"\n\n" not in buffer:
            self._buffer = buffer
            return []
        *blocks, self._buffer = buffer.split(b"\n\n")
        events = []
        for block in blocks:
            event = _parse_block(block)
            if event is not None:
                events.append(event)
        return events

    @property
    def idle(self) -> bool:
        """No partial event is buffered: the next byte starts a new event."""
        return not self._buffer and not self._pending_cr

    def flush(self) -> list[SSEEvent]:
        """End of input: an unterminated last event still counts (as the OpenAI SDK does)."""
        block, self._buffer = self._buffer.strip(b"\n"), b""
        event = _parse_block(block) if block else None
        return [event] if event is not None else []


def _parse_block(block: bytes) -> SSEEvent | None:
    if block.startswith(b"data: ") and b"\n" not in block:  # the common case, one data line
        return SSEEvent(block[6:])
    data: list[bytes] = []
    event = ev_id = None
    for line in block.split(b"\n"):
        if not line or line.startswith(b":"):
            continue
        name, _, value = line.partition(b":")
        if value.startswith(b" "):
            value = value[1:]
        if name == b"data":
            data.append(value)
        elif name == b"event":
            event = value.decode("utf-8", "replace")
        elif name == b"id":
            ev_id = value.decode("utf-8", "replace")
    if not data and event is None:
        return None
    return SSEEvent(b"\n".join(data), event, ev_id)
