"""Is the SQLite store's file still the one it writes to? (``SQLiteStore``'s guard.)

A SQLite connection holds its file open: when the file, or its whole directory, is
deleted, every write still succeeds, into an inode nobody can reach any more. The guard
remembers the file's identity (device, inode) when it was opened and compares it with
what the path holds now, and checks that the file and its directory can be written.
It runs on the store's worker thread, three system calls per query in the normal case.

A fault is logged once (as an error) and raised as ``StoreError`` on every call until
it is over; its end is logged too.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from enum import Enum
from typing import NoReturn

from tokenway.store.base import StoreError

__all__ = ["FileGuard"]

log = logging.getLogger("tokenway.store")


class Fault(Enum):
    GONE = "was deleted together with its directory"
    MISSING = "is missing (deleted)"
    REPLACED = "was replaced by another file"
    UNWRITABLE = "or its directory cannot be written"
    UNCHECKABLE = "cannot be checked"


class FileGuard:
    """The identity of one open SQLite file, and what has happened to its path since."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.directory = os.path.dirname(os.path.abspath(path))
        self._identity = _identity(path)
        self._fault: Fault | None = None

    def needs_reopen(self) -> bool:
        """Before a query: False when all is well; True when the path holds another file,
        or none, in a directory that can be written (reopen it); else ``StoreError``."""
        fault = self._inspect()
        if fault is None:
            if self._fault is not None:
                log.warning("SQLite database %s is usable again", self.path)
                self._fault = None
            return False
        if fault in (Fault.MISSING, Fault.REPLACED) and _writable(self.directory):
            self._fault = fault
            return True
        self._fail(fault)

    def check(self) -> None:
        """After a write committed: ``StoreError`` unless it went into the file at the path."""
        fault = self._inspect()
        if fault is not None:
            self._fail(fault)

    def reopened(self, applied: Sequence[object]) -> None:
        """The store opened the path anew (``applied``: the migrations this ran)."""
        was, self._fault = self._fault, None
        self._identity = _identity(self.path)
        if was is Fault.REPLACED:
            log.warning(
                "SQLite database %s was replaced by another file; opened that one "
                "(%d migrations applied)",
                self.path,
                len(applied),
            )
            return
        log.error(
            "SQLite database %s was missing: opened a new, empty database there (%d "
            "migrations applied). Keys, users, teams and spend that the old file held are "
            "not in it (restore it from a backup to get them back); spend rows still in the "
            "journal are written to the new one",
            self.path,
            len(applied),
        )

    def _inspect(self) -> Fault | None:
        try:
            stat = os.stat(self.path)
        except FileNotFoundError:
            return Fault.MISSING if os.path.isdir(self.directory) else Fault.GONE
        except OSError:
            return Fault.UNCHECKABLE
        if (stat.st_dev, stat.st_ino) != self._identity:
            return Fault.REPLACED
        if not (os.access(self.path, os.W_OK) and _writable(self.directory)):
            return Fault.UNWRITABLE
        return None

    def _fail(self, fault: Fault) -> NoReturn:
        if fault is not self._fault:  # once per fault, not once per call
            self._fault = fault
            log.error(
                "SQLite database %s %s: the store is down until that is repaired; spend "
                "rows wait in the journal",
                self.path,
                fault.value,
            )
        raise StoreError(f"SQLite database {self.path!r} is not usable ({fault.name.lower()})")


def _identity(path: str) -> tuple[int, int]:
    stat = os.stat(path)
    return stat.st_dev, stat.st_ino


def _writable(directory: str) -> bool:
    # W_OK to create the -wal/-journal files in it, X_OK to reach the file at all.
    return os.access(directory, os.W_OK | os.X_OK)
