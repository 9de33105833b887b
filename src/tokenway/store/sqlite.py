"""The embedded store: one SQLite file in WAL mode, driven by one worker thread.

sqlite3 blocks, so every query runs on a single dedicated thread that owns the one
connection; the event loop only awaits it. One connection also means one writer per
process, and ``BEGIN IMMEDIATE`` plus ``busy_timeout`` let processes share the file.

An open connection keeps writing into its file after the file (or its directory) is
deleted, and those writes are lost with it. So before every query, and again after a
spend write commits, the store checks that the file at its path is still the one it
opened (``stat``: device and inode) and that the file and its directory are writable
(``tokenway.store.sqlite_file``). If not, the call fails with ``StoreError``, logged
once per fault, and spend rows stay in the proxy's journal. When the directory exists
and is writable again but the file is another one, or none, the store reopens the path:
a missing file becomes a new, empty database (migrations applied), which the log says.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from itertools import chain
from operator import itemgetter
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tokenway.store import queries as q
from tokenway.store.base import SpendRow, StoreError
from tokenway.store.common import T
from tokenway.store.entity_ops import EntityOperations
from tokenway.store.migrate import Migration, apply_sqlite
from tokenway.store.models import ModelOperations
from tokenway.store.rows import SPEND_COLUMNS, RowLike, conflict
from tokenway.store.sqlite_file import FileGuard

if TYPE_CHECKING:
    import sqlite3

_REQUEST_ID = itemgetter(0)  # SpendRow.request_id, at C speed
DAY = "strftime('%Y-%m-%d', started_at, 'unixepoch')"


class SQLiteStore(ModelOperations, EntityOperations):
    dialect: str = "sqlite"
    migrations_dialect = "sqlite"
    _day = DAY
    _bucket = "CAST(started_at / {width} AS INTEGER) * {width}"

    def __init__(self, path: str, *, busy_timeout: float = 5.0) -> None:
        self.path = path
        self.busy_timeout = busy_timeout
        self.applied_migrations: list[Migration] = []
        self._executor: ThreadPoolExecutor | None = None
        self._conn: sqlite3.Connection | None = None
        self._rows_per_insert = 1
        self._guard: FileGuard | None = None  # None for ":memory:"

    async def open(self) -> None:
        if self._executor is not None:
            return
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="tokenway-sqlite")
        try:
            self.applied_migrations = await self._in_thread(self._open_guarded)
        except BaseException:
            await self.close()
            raise

    async def close(self) -> None:
        executor, self._executor = self._executor, None
        if executor is None:
            return
        await asyncio.get_running_loop().run_in_executor(executor, self._disconnect)
        executor.shutdown(wait=True)  # at once: the thread has nothing left to do

    async def ping(self) -> None:
        await self._run(lambda conn: conn.execute("SELECT 1").fetchall())

    # spend
    async def add_spend(self, rows: Sequence[SpendRow]) -> int:
        if not rows:
            return 0
        return await self._in_thread(lambda: self._write_spend(rows))

    async def reset_budgets(self, now: float) -> int:
        return await self._run(_reset_budgets, now)

    # plumbing: everything below runs on (or hands work to) the worker thread
    async def _fetch_one(
        self, sql: str, args: Sequence[Any], make: Callable[[RowLike], T]
    ) -> T | None:
        return await self._run(_one, sql, args, make)

    async def _fetch_all(
        self, sql: str, args: Sequence[Any], make: Callable[[RowLike], T]
    ) -> list[T]:
        return await self._run(_all, sql, args, make)

    async def _execute(self, sql: str, args: Sequence[Any]) -> int:
        return await self._run(lambda conn: conn.execute(sql, args).rowcount)

    async def _run(self, work: Callable[..., T], *args: Any) -> T:
        """Run ``work(connection, *args)`` on the worker thread."""
        return await self._in_thread(lambda: work(self._checked_connection(), *args))

    def _write_spend(self, rows: Sequence[SpendRow]) -> int:
        """Insert, then check the file again: rows committed into a file that was deleted
        meanwhile are not stored, and the caller must keep them (and send them again)."""
        added = _add_spend(self._checked_connection(), rows, self._rows_per_insert)
        if self._guard is not None:
            self._guard.check()
        return added

    def _checked_connection(self) -> sqlite3.Connection:
        """The connection, once the file is known to be the one it writes to (reopened
        when the path holds another file, or none, in a usable directory)."""
        conn = self._connection()
        guard = self._guard
        if guard is not None and guard.needs_reopen():
            self._disconnect()
            guard.reopened(self._connect())
            conn = self._connection()
        return conn

    async def _in_thread(self, call: Callable[[], T]) -> T:
        if self._executor is None:
            raise StoreError("the SQLite store is not open: await store.open() first")
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self._guarded, call)

    def _guarded(self, call: Callable[[], T]) -> T:
        import sqlite3

        try:
            return call()
        except sqlite3.IntegrityError as err:
            raise _integrity_error(err) from err
        except (sqlite3.Error, OSError) as err:  # OSError: its folder cannot be created
            raise StoreError(f"SQLite database {self.path!r}: {err}") from err

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            raise StoreError("the SQLite store is closed: await store.open() first")
        return self._conn

    def _connect(self) -> list[Migration]:
        import sqlite3

        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        _bind_plainly(sqlite3)
        conn = sqlite3.connect(self.path, timeout=self.busy_timeout, isolation_level=None)
        self._conn = conn
        conn.row_factory = sqlite3.Row
        conn.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout * 1000)}")
        _enter_wal_mode(conn, time.monotonic() + self.busy_timeout)
        conn.execute("PRAGMA synchronous = NORMAL")
        # As many rows per INSERT as bound parameters allow (999 before SQLite 3.32, 32766
        # since): fewer statements, fewer GIL hand-offs with the event loop's thread.
        params = conn.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)
        self._rows_per_insert = min(params // len(SPEND_COLUMNS), _MAX_ROWS_PER_INSERT)
        return apply_sqlite(conn)

    def _open_guarded(self) -> list[Migration]:
        applied = self._connect()
        self._guard = None if self.path == ":memory:" else FileGuard(self.path)
        return applied

    def _disconnect(self) -> None:
        import sqlite3

        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(sqlite3.Error):  # its file may be gone: nothing to keep
                conn.close()


def _one(
    conn: sqlite3.Connection, sql: str, args: Sequence[Any], make: Callable[[RowLike], T]
) -> T | None:
    rows = conn.execute(sql, args).fetchall()  # fetch all: a RETURNING statement must finish
    return make(rows[0]) if rows else None


def _all(
    conn: sqlite3.Connection, sql: str, args: Sequence[Any], make: Callable[[RowLike], T]
) -> list[T]:
    return [make(row) for row in conn.execute(sql, args).fetchall()]


def _add_spend(conn: sqlite3.Connection, rows: Sequence[SpendRow], per_insert: int) -> int:
    """One multi-row ``INSERT ... ON CONFLICT DO NOTHING`` per chunk, the ``SpendRow``
    tuples bound as they are: few statements means few GIL hand-offs with the event
    loop's thread. Rows already stored (a replayed journal) are skipped by the INSERT;
    only then are the new ones looked up, by rowid (new rows get ever larger ones)."""
    batch = rows if len(set(map(_REQUEST_ID, rows))) == len(rows) else _first_of_each(rows)
    with _transaction(conn):
        (last_rowid,) = conn.execute(q.LAST_SPEND_ROWID).fetchone()
        inserted = 0
        for start in range(0, len(batch), per_insert):
            part = batch[start : start + per_insert]
            args = list(chain.from_iterable(part))
            inserted += conn.execute(q.insert_spend_rows(len(part)), args).rowcount
        new = batch if inserted == len(batch) else _inserted(conn, last_rowid, batch)
        for table, amounts in q.spend_increments(new):
            conn.executemany(q.add_to_spend(table), amounts)
    return len(new)


def _bind_plainly(sqlite3: Any) -> None:
    """sqlite3 binds a None or a bool parameter only after a failed search for an adapter
    (an attribute lookup that raises, its message formatted: about 2,500 instructions
    each, and a spend row has several). A registered adapter is a dict hit; these give
    the values sqlite3 binds anyway (NULL; 0 or 1), so no caller sees a difference."""
    sqlite3.register_adapter(type(None), {}.get)  # {}.get(None) is None, at C speed
    sqlite3.register_adapter(bool, int)


def _first_of_each(rows: Sequence[SpendRow]) -> list[SpendRow]:
    """The first row of each request id (a request recorded twice is stored once)."""
    fresh: dict[str, SpendRow] = {}
    for row in rows:
        fresh.setdefault(row.request_id, row)
    return list(fresh.values())


def _inserted(
    conn: sqlite3.Connection, last_rowid: int, batch: Sequence[SpendRow]
) -> list[SpendRow]:
    by_id = {row.request_id: row for row in batch}  # ids are unique in a batch
    found = conn.execute(q.SPEND_IDS_AFTER_ROWID, (last_rowid,))
    return [by_id[request_id] for (request_id,) in found]


# Bigger statements save nothing measurable (a 2,000-row batch takes four), and each
# row count seen is one more long statement to prepare and cache.
_MAX_ROWS_PER_INSERT = 500


def _reset_budgets(conn: sqlite3.Connection, now: float) -> int:
    count = 0
    with _transaction(conn):
        for table in q.PRINCIPALS:
            due = conn.execute(q.due_for_reset(table), (now,)).fetchall()
            for args in q.reset_args(due, now):
                count += conn.execute(q.reset_spend(table), args).rowcount
    return count


def _enter_wal_mode(conn: sqlite3.Connection, deadline: float) -> None:
    # Switching a new file to WAL needs it to itself, and SQLite answers "locked" at once
    # (without the busy handler) when another process is switching it too: retry.
    import sqlite3

    while True:
        try:
            conn.execute("PRAGMA journal_mode = WAL").fetchall()
            return
        except sqlite3.OperationalError as err:
            if "locked" not in str(err) or time.monotonic() > deadline:
                raise
            time.sleep(0.01)


@contextmanager
def _transaction(conn: sqlite3.Connection) -> Iterator[None]:
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def _integrity_error(err: Exception) -> Exception:
    # sqlite3 names the column: "UNIQUE constraint failed: keys.key_alias"
    message = str(err)
    if message.startswith("UNIQUE constraint failed: "):
        table, _, column = message.rpartition(" ")[2].partition(".")
        return conflict(table, column)
    return StoreError(f"SQLite refused the change: {message}")
