"""The request log: one line per model request, plain text or JSON, written off the loop.

``RequestLog.emit`` only appends the record to a queue; a thread formats what has queued
every ``interval`` and writes it in one call. A slow terminal or disk therefore holds the
thread, never a request. If the thread falls behind by more than ``MAX_PENDING`` lines,
the newest are dropped and counted, and the count is written when it catches up.

The other lines (start, shutdown, config warnings, store and upstream faults) go through
``logging``; ``JsonFormatter`` gives them the JSON shape of the request lines.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from collections import deque
from typing import IO, Any

import orjson

from tokenway.proxy.observability.record import RequestRecord

MAX_PENDING = 100_000
LOGGER = "tokenway.request"


class RequestLog:
    def __init__(
        self, *, json: bool = False, stream: IO[str] | None = None, interval: float = 0.1
    ) -> None:
        self.json = json
        self._stream = stream
        self._interval = interval
        self._pending: deque[RequestRecord] = deque()
        self._dropped = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def emit(self, record: RequestRecord) -> None:
        if len(self._pending) >= MAX_PENDING:
            self._dropped += 1
            return
        self._pending.append(record)
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="request-log", daemon=True)
            self._thread.start()

    def close(self) -> None:
        """Write what is queued and stop the thread."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        self.flush()

    def flush(self) -> None:
        pending = self._pending
        if not pending and not self._dropped:
            return
        lines = []
        line = self._json_line if self.json else _plain_line
        while pending:
            lines.append(line(pending.popleft()))
        if self._dropped:
            count, self._dropped = self._dropped, 0
            lines.append(self._note(f"{count} request log line(s) dropped: the log fell behind"))
        stream = self._stream or sys.stderr
        try:
            stream.write("".join(lines))
            stream.flush()
        except (OSError, ValueError):  # a closed or broken stream: nothing to tell it with
            pass

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            self.flush()

    def _json_line(self, record: RequestRecord) -> str:
        row = record.row
        data: dict[str, Any] = {
            "time": _iso(row.started_at),
            "level": "INFO",
            "logger": LOGGER,
            "message": f"{record.method} {record.path} {row.status}",
            **record.fields(),
        }
        return orjson.dumps(data).decode() + "\n"

    def _note(self, message: str) -> str:
        if self.json:
            data = {"time": _iso(time.time()), "level": "WARNING", "logger": LOGGER}
            return orjson.dumps({**data, "message": message}).decode() + "\n"
        return f"WARNING {LOGGER}: {message}\n"


def _plain_line(record: RequestRecord) -> str:
    fields = record.fields()
    head = f"{fields.pop('method')} {fields.pop('path')} {fields.pop('status')}"
    parts = [f"{name}={_plain(value)}" for name, value in fields.items() if value is not None]
    return f"INFO {LOGGER}: {_iso(record.row.started_at)} {head} {' '.join(parts)}\n"


def _plain(value: object) -> str:
    """A value as one token: text with a space, a quote or a control character (a model
    name is the client's own text) is JSON-quoted, so one request stays one line."""
    if isinstance(value, float):
        return f"{value:.10g}"
    text = str(value)
    if text and text.isprintable() and " " not in text and '"' not in text and "=" not in text:
        return text
    return orjson.dumps(text).decode()


def _iso(epoch: float) -> str:
    seconds = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(epoch))
    return f"{seconds}.{int(epoch % 1 * 1000):03d}Z"


class JsonFormatter(logging.Formatter):
    """Every other log line in the request lines' JSON shape."""

    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "time": _iso(record.created),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            data["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(data).decode()
