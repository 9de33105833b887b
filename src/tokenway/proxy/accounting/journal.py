"""The spend journal: spend rows on local disk before a response ends, until the store has them.

One JSON line per row (an array: the version, then the row's fields), appended with a
single ``os.write`` on an ``O_APPEND`` descriptor, so a row is in the operating system's
page cache before ``append`` returns and survives a SIGKILL of the process. Rows are not
fsynced one by one (that would cost milliseconds per request); ``fsync_interval``
(seconds, ``None`` by default: off) adds a periodic fsync so that a power loss or kernel
crash loses only about that many seconds of rows. The ``SpendWriter`` runs it on its
background tick (every ``batch_interval``), off the loop.

Layout of a journal directory::

    journal.lock              flock'ed by the one process that owns the directory
    active.jsonl              rows being appended now
    sealed-000000000007.jsonl rows handed to the store, deleted once it accepted them all
    late.jsonl                rows of requests that ended after the journal was closed

``seal`` renames the active file to the next sealed segment and starts a new one. On open,
an active file left by a crash is sealed, so ``replay`` sees every leftover row, in order;
so is a late file (``append_late``: shutdown's stragglers, never touched by a running owner).
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType

import orjson

from tokenway.proxy.config import StartupError
from tokenway.store.base import SpendRow

__all__ = ["JOURNAL_VERSION", "JournalLockedError", "SpendJournal", "decode_row", "encode_row"]

log = logging.getLogger("tokenway.proxy.accounting.journal")

# 1: a JSON object per row; 2: without usage_estimated; 3: without the last four fields
# (organization_id, end_user, metadata, response_id); all still read
JOURNAL_VERSION = 4
LOCK_NAME = "journal.lock"
ACTIVE_NAME = "active.jsonl"
LATE_NAME = "late.jsonl"
_SEALED_PREFIX = "sealed-"
_SEALED_SUFFIX = ".jsonl"
_NEWLINE = orjson.OPT_APPEND_NEWLINE
_LINE_LENGTH = 1 + len(SpendRow._fields)
_ARRAY_LENGTHS = {JOURNAL_VERSION: _LINE_LENGTH, 3: _LINE_LENGTH - 4, 2: _LINE_LENGTH - 5}


class JournalLockedError(StartupError):
    """Another process owns this journal directory; each worker needs its own."""


class SpendJournal:
    """Append-only segments of spend rows in one directory owned by one process."""

    def __init__(self, directory: str | os.PathLike[str], *, fsync_interval: float | None = None):
        self.directory = Path(directory)
        self.fsync_interval = fsync_interval
        self.directory.mkdir(parents=True, exist_ok=True)
        self._lock_fd = _take_lock(self.directory)
        self._guard = threading.Lock()  # ``sync`` may run in a worker thread
        self._torn = False
        self._last_sync = time.monotonic()
        self._active = self.directory / ACTIVE_NAME
        self._next_seq = max((_seq(p) for p in self.segments()), default=0) + 1
        try:
            for leftover in (self._active, self.directory / LATE_NAME):
                if leftover.exists() and leftover.stat().st_size > 0:
                    self._rename(leftover)  # left by a crash or a shutdown: replay it
            self._fd = _open_append(self._active)
            self._written = 0
        except BaseException:
            os.close(self._lock_fd)
            raise

    def append(self, row: SpendRow) -> None:
        """Write one row; it is in the OS (not yet on disk) when this returns."""
        data = encode_row(row)
        if self._torn:  # a failed write left half a line: end it so this row stands alone
            data = b"\n" + data
        view = memoryview(data)
        try:
            while view:
                view = view[os.write(self._fd, view) :]
        except BaseException:
            if len(view) < len(data):  # part of the line is in the file
                self._torn = True
            raise
        self._torn = False
        self._written += 1

    def append_late(self, row: SpendRow) -> None:
        """Write one row after ``close``: a request that ended during shutdown. The late
        file is opened for this one write (no lock, no event loop: it may run as the loop
        is torn down), and the next process to open this directory replays it; a process
        that owns the directory meanwhile never touches that file. The line starts with a
        newline in case the file ends in a torn line (an empty line is skipped)."""
        fd = _open_append(self.directory / LATE_NAME)
        try:
            view = memoryview(b"\n" + encode_row(row))
            while view:
                view = view[os.write(fd, view) :]
        finally:
            os.close(fd)

    def seal(self) -> Path | None:
        """Close the active file as a sealed segment (``None`` if it holds no rows)."""
        if self._lock_fd < 0:
            raise RuntimeError("the spend journal is closed")
        if self._fd < 0:  # reopening failed at the last seal: try again, nothing to seal
            self._fd = _open_append(self._active)
            return None
        if self._written == 0 and not self._torn:
            return None
        with self._guard:
            path = self._rename(self._active)  # the open descriptor follows the file
            old, self._fd = self._fd, -1
            try:
                self._fd = _open_append(self._active)
            finally:
                os.close(old)
            self._written = 0
            self._torn = False
        return path

    def segments(self) -> list[Path]:
        """Sealed segments on disk, oldest first."""
        found = self.directory.glob(f"{_SEALED_PREFIX}*{_SEALED_SUFFIX}")
        return sorted((p for p in found if _seq(p) > 0), key=_seq)

    def read(self, segment: Path) -> Iterator[SpendRow]:
        """The rows of one segment; a torn or unreadable line is skipped with a warning."""
        with segment.open("rb") as lines:
            for number, line in enumerate(lines, 1):
                if not line.strip():
                    continue
                row = _decode_line(line, segment, number)
                if row is not None:
                    yield row

    def replay(self) -> Iterator[SpendRow]:
        """Every row of every sealed segment, in the order they were appended."""
        for segment in self.segments():
            yield from self.read(segment)

    def delete(self, segment: Path) -> None:
        """Drop a segment whose rows the store has accepted."""
        segment.unlink(missing_ok=True)

    def sync_due(self) -> bool:
        """Whether the periodic fsync (if configured) should run now."""
        interval = self.fsync_interval
        return interval is not None and time.monotonic() - self._last_sync >= interval

    def sync(self) -> None:
        """fsync the active file and the directory (renames); safe from a worker thread."""
        self._last_sync = time.monotonic()
        with self._guard:
            if self._fd < 0:
                return
            fd = os.dup(self._fd)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        dir_fd = os.open(self.directory, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)

    def close(self) -> None:
        """Close the active file and release the directory; rows stay for the next start."""
        with self._guard:
            if self._fd >= 0:
                os.close(self._fd)
                self._fd = -1
        if self._lock_fd >= 0:
            os.close(self._lock_fd)  # closing the descriptor releases the flock
            self._lock_fd = -1

    def __enter__(self) -> SpendJournal:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _rename(self, source: Path) -> Path:
        path = self.directory / f"{_SEALED_PREFIX}{self._next_seq:012d}{_SEALED_SUFFIX}"
        os.rename(source, path)
        self._next_seq += 1
        return path


def encode_row(row: SpendRow) -> bytes:
    """One journal line: ``[version, field, ...]`` in ``SpendRow`` order. An array of the
    row's tuple costs a third of an object with its field names, on the hot path."""
    return orjson.dumps((JOURNAL_VERSION, *row), option=_NEWLINE)


def decode_row(line: bytes) -> SpendRow:
    """The row of one journal line; ``ValueError`` if it is not a complete row we know.

    Version 1 lines (an object of named fields) are what a proxy before version 2 left;
    version 2 lines lack ``usage_estimated`` (then false) and what version 3 lacks;
    version 3 lines lack the last four fields (then None)."""
    data = orjson.loads(line)
    if isinstance(data, list) and data and data[0] in _ARRAY_LENGTHS:
        expected = _ARRAY_LENGTHS[data[0]]
        if len(data) != expected:
            raise ValueError(f"{len(data) - 1} fields, expected {expected - 1}")
        return SpendRow(*data[1:])
    if isinstance(data, dict) and data.get("v") == 1:
        del data["v"]
        try:
            return SpendRow(**data)
        except TypeError as err:
            raise ValueError(f"fields do not match a spend row: {err}") from None
    raise ValueError(
        f"unknown journal version {_version(data)!r} (known: 1, 2, 3, {JOURNAL_VERSION})"
    )


def _version(data: object) -> object:
    if isinstance(data, list):
        return data[0] if data else None
    return data.get("v") if isinstance(data, dict) else None


def _decode_line(line: bytes, segment: Path, number: int) -> SpendRow | None:
    try:
        return decode_row(line)
    except ValueError as err:  # orjson.JSONDecodeError is a ValueError
        torn = "" if line.endswith(b"\n") else " (torn write at a crash)"
        log.warning("spend journal %s line %d skipped%s: %s", segment.name, number, torn, err)
        return None


def _take_lock(directory: Path) -> int:
    path = directory / LOCK_NAME
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        owner = _read_owner(fd)
        os.close(fd)
        raise JournalLockedError(
            f"the spend journal directory {directory} is in use by another process{owner}; "
            "give each proxy process (each worker) its own journal directory"
        ) from None
    except BaseException:
        os.close(fd)
        raise
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    return fd


def _read_owner(fd: int) -> str:
    with contextlib.suppress(OSError, ValueError):
        return f" (pid {int(os.pread(fd, 32, 0))})"
    return ""


def _open_append(path: Path) -> int:
    # 0o600: rows name keys and users, and may carry prompts when the config asks.
    return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o600)


def _seq(path: Path) -> int:
    digits = path.name[len(_SEALED_PREFIX) : -len(_SEALED_SUFFIX)]
    return int(digits) if digits.isdigit() else 0
