"""The request log: one line per request, plain text or JSON, written off the loop.

A model request's line comes from its ``RequestRecord``; any other request's (management,
health, metrics, a refusal before an endpoint ran) from its ``AccessRecord``.

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
from collections.abc import Iterator
from itertools import islice
from typing import IO, Any

import orjson

from tokenway.proxy.observability.access import AccessRecord
from tokenway.proxy.observability.record import RequestRecord

MAX_PENDING = 100_000
ATOMIC_WRITE = 4096  # PIPE_BUF on Linux (characters ≈ bytes: lines are mostly ASCII)
LOGGER = "tokenway.request"


class RequestLog:
    def __init__(
        self, *, json: bool = False, stream: IO[str] | None = None, interval: float = 0.1
    ) -> None:
        self.json = json
        self._stream = stream
        self._interval = interval
        self._pending: deque[RequestRecord | AccessRecord] = deque()
        self._dropped = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def emit(self, record: RequestRecord | AccessRecord) -> None:
        if len(self._pending) >= MAX_PENDING:
            self._dropped += 1
            return
        self._pending.append(record)
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="request-log", daemon=True)
            self._thread.start()

    emit_access = emit  # the same queue; the thread tells the two apart

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
        line = self._json_line if self.json else _plain_line
        access = self._json_access if self.json else _plain_access
        # what has queued so far, taken by C calls (the loop may append meanwhile)
        records: list[RequestRecord | AccessRecord]
        records = list(islice(iter(pending.popleft, None), len(pending)))
        lines = [line(r) if isinstance(r, RequestRecord) else access(r) for r in records]
        if self._dropped:
            count, self._dropped = self._dropped, 0
            lines.append(self._note(f"{count} request log line(s) dropped: the log fell behind"))
        stream = self._stream or sys.stderr
        try:
            for chunk in _chunks(lines):
                stream.write(chunk)
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

    def _json_access(self, record: AccessRecord) -> str:
        data: dict[str, Any] = {
            "time": _iso(record.started_at),
            "level": "INFO",
            "logger": LOGGER,
            "message": f"{record.method} {_plain(record.path)} {record.status}",
            **record.fields(),
        }
        return orjson.dumps(data).decode() + "\n"

    def _note(self, message: str) -> str:
        if self.json:
            data = {"time": _iso(time.time()), "level": "WARNING", "logger": LOGGER}
            return orjson.dumps({**data, "message": message}).decode() + "\n"
        return f"WARNING {LOGGER}: {message}\n"


def _chunks(lines: list[str]) -> Iterator[str]:
    """Whole lines, at most ``ATOMIC_WRITE`` bytes a write where lines allow: a pipe takes
    such a write whole, so the workers of ``--workers N`` sharing one never cut into each
    other's lines. The cuts are found in the joined text (a search per write, not a step
    per line)."""
    text = "".join(lines)
    start, end = 0, len(text)
    while end - start > ATOMIC_WRITE:
        cut = text.rfind("\n", start, start + ATOMIC_WRITE) + 1
        if cut <= start:  # a line longer than a write: it goes whole
            cut = text.find("\n", start + ATOMIC_WRITE) + 1 or end
        yield text[start:cut]
        start = cut
    if start < end:
        yield text[start:]


_PATHS: dict[str, str] = {}  # a request path as written in a plain line


def _plain_line(record: RequestRecord) -> str:
    """``key=value`` pairs after the method, path and status; empty fields left out. The
    pairs that repeat from request to request (model, deployment, key) are made once, and
    the rest is one ``%`` on the template of the line's shape (``_SHAPES``): one C call
    formats its dozen values, where an f-string runs a step per value."""
    # every field by unpacking (one step, not an attribute lookup each); a field added
    # to either tuple fails here loudly, in every test that writes a line
    row, method, path, _, key_alias, _, upstream_model, retries, fallbacks, upstream_ms, _ = record
    (request_id, key_hash, user_id, team_id, model, deployment, prompt, completion, cost,
     latency_ms, status, error, stream, started_at, _, estimated, _, _, _, _) = row  # fmt: skip
    who = (model, deployment, upstream_model, key_alias, key_hash, team_id, user_id)
    fixed = _FIXED.get(who)
    if fixed is None:
        fixed = _fixed_pairs(record)
        if len(_FIXED) >= 10_000:
            _FIXED.clear()
        _FIXED[who] = fixed
    # The Azure-style route carries the client's model name in its path: one token too.
    shown = _PATHS.get(path)
    if shown is None:
        shown = _plain(path)
        if len(_PATHS) >= 1_000:
            _PATHS.clear()
        _PATHS[path] = shown
    path = shown
    whole, millis = divmod(int(started_at * 1000), 1000)  # _iso's steps, without its call
    seconds = _SECONDS.get(whole) or _second(whole)
    if cost is None:
        line = _SHAPES[estimated, False] % (
            seconds, _MILLIS[millis], method, path, status, request_id, fixed, stream, prompt,
            completion, prompt + completion, latency_ms, upstream_ms, retries, fallbacks,
        )  # fmt: skip
    else:
        line = _SHAPES[estimated, True] % (
            seconds, _MILLIS[millis], method, path, status, request_id, fixed, stream, prompt,
            completion, prompt + completion, cost, latency_ms, upstream_ms, retries, fallbacks,
        )  # fmt: skip
    if error is None:
        return line
    return f"{line[:-1]} error_code={_plain(error)}\n"


def _shape(estimated: bool, cost: bool) -> str:
    return (
        f"INFO {LOGGER}: %s%s %s %s %d request_id=%s%s stream=%s prompt_tokens=%d"
        " completion_tokens=%d total_tokens=%d"
        f"{' usage_estimated=True' if estimated else ''}{' cost=%.10g' if cost else ''}"
        " latency_ms=%.3f upstream_ms=%.3f retries=%d fallbacks=%d\n"
    )


# the line's template by shape: (usage estimated, cost known)
_SHAPES = {(e, c): _shape(e, c) for e in (False, True) for c in (False, True)}


def _plain_access(record: AccessRecord) -> str:
    line = (
        f"INFO {LOGGER}: {_iso(record.started_at)} {record.method} {_plain(record.path)} "
        f"{record.status}"
    )
    if record.request_id:
        line += f" request_id={record.request_id}"
    if record.key:
        line += f" key_hash={record.key}"
    line += f" latency_ms={record.latency_ms:.3f}"
    if record.error_code is not None:
        line += f" error_code={_plain(record.error_code)}"
    return line + "\n"


def _fixed_pairs(record: RequestRecord) -> str:
    row = record.row
    pairs = f" model={_plain(row.model_alias)}"
    if row.deployment is not None:
        pairs += f" deployment={_plain(row.deployment)}"
    if record.upstream_model is not None:
        pairs += f" upstream_model={_plain(record.upstream_model)}"
    if record.key_alias is not None:
        pairs += f" key_alias={_plain(record.key_alias)}"
    if row.key_hash:
        pairs += f" key_hash={record.key}"
    if row.team_id is not None:
        pairs += f" team={_plain(row.team_id)}"
    if row.user_id is not None:
        pairs += f" user={_plain(row.user_id)}"
    return pairs


_FIXED: dict[tuple[object, ...], str] = {}  # the writer thread's (a race only formats twice)


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
    """UTC to the millisecond: the second's text is made once per second (the last few
    kept), the millisecond's taken from a table."""
    whole, millis = divmod(int(epoch * 1000), 1000)
    return (_SECONDS.get(whole) or _second(whole)) + _MILLIS[millis]


def _second(whole: int) -> str:
    if len(_SECONDS) > 4:
        _SECONDS.clear()
    text = _SECONDS[whole] = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole))
    return text


# The last seconds, formatted (a race between threads only formats twice); ".mmmZ".
_SECONDS: dict[int, str] = {}
_MILLIS = tuple(f".{m:03d}Z" for m in range(1000))


class PlainFormatter(logging.Formatter):
    """Every other log line in the request lines' plain shape: level, logger, time."""

    def format(self, record: logging.LogRecord) -> str:
        line = f"{record.levelname} {record.name}: {_iso(record.created)} {record.getMessage()}"
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


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
