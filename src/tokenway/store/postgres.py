"""The server store: PostgreSQL through an asyncpg pool.

Callers only ever see ``StoreError`` (unreachable, timed out, refused) and
``ConflictError``; asyncpg's own exceptions stop here, and messages name the server
without its password. Extra URL query parameters (``?search_path=tenant``) are passed
to the server as settings, which is how tests give each case its own schema.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from functools import lru_cache
from typing import Any, NoReturn
from urllib.parse import urlsplit

from tokenway.store import queries as q
from tokenway.store.base import SpendRow, StoreError
from tokenway.store.common import T
from tokenway.store.entity_ops import EntityOperations
from tokenway.store.migrate import Migration, apply_postgres
from tokenway.store.models import ModelOperations
from tokenway.store.rows import SPEND_COLUMNS, RowLike, conflict, spend_to_row

DAY = "to_char(to_timestamp(started_at) AT TIME ZONE 'UTC', 'YYYY-MM-DD')"
_SPEND_TYPES = {
    "prompt_tokens": "int8",
    "completion_tokens": "int8",
    "cost": "float8",
    "latency_ms": "float8",
    "status": "int4",
    "stream": "bool",
    "usage_estimated": "bool",
    "started_at": "float8",
}
# One statement for a whole batch: the rows arrive as one array per column.
INSERT_SPEND_BATCH = (
    f"INSERT INTO spend_logs ({', '.join(SPEND_COLUMNS)}) SELECT * FROM unnest("
    + ", ".join(f"${i}::{_SPEND_TYPES.get(c, 'text')}[]" for i, c in enumerate(SPEND_COLUMNS, 1))
    + ") ON CONFLICT (request_id) DO NOTHING RETURNING request_id"
)


class PostgresStore(ModelOperations, EntityOperations):
    dialect: str = "postgresql"
    migrations_dialect = "postgres"
    _day = DAY
    _bucket = "FLOOR(started_at / {width})::bigint * {width}"

    def __init__(
        self,
        url: str,
        *,
        min_size: int = 1,
        max_size: int = 10,
        connect_timeout: float = 10.0,
        command_timeout: float = 30.0,
    ) -> None:
        self.url = url
        self.min_size = min_size
        self.max_size = max_size
        self.connect_timeout = connect_timeout
        self.command_timeout = command_timeout
        self.applied_migrations: list[Migration] = []
        self._pool: Any = None

    async def open(self) -> None:
        if self._pool is not None:
            return
        asyncpg = _driver()
        try:
            self._pool = await asyncpg.create_pool(
                dsn=self.url,
                min_size=self.min_size,
                max_size=self.max_size,
                timeout=self.connect_timeout,
                command_timeout=self.command_timeout,
            )
        except ValueError as err:  # asyncpg could not parse the URL
            raise ValueError(f"invalid PostgreSQL URL: {self._redact(str(err))}") from err
        except Exception as err:
            self._reraise(err)
        try:
            async with self._connection() as conn:
                self.applied_migrations = await apply_postgres(conn)
        except BaseException:
            await self.close()
            raise

    async def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            try:
                await asyncio.wait_for(pool.close(), self.command_timeout)
            except Exception:
                pool.terminate()  # best effort: a stuck connection must not keep us open

    async def ping(self) -> None:
        async with self._connection() as conn:
            await conn.fetchval("SELECT 1")

    # spend
    async def add_spend(self, rows: Sequence[SpendRow]) -> int:
        if not rows:
            return 0
        # Inserting in request_id order means two overlapping batches wait for each other
        # in one direction only: no deadlock.
        ordered = sorted(rows, key=lambda row: row.request_id)
        columns = list(zip(*(spend_to_row(row) for row in ordered), strict=True))
        by_id = {row.request_id: row for row in rows}
        async with self._connection() as conn, conn.transaction():
            inserted = await conn.fetch(INSERT_SPEND_BATCH, *columns)
            new = [by_id[record["request_id"]] for record in inserted]
            for table, amounts in q.spend_increments(new):
                await conn.executemany(_numbered(q.add_to_spend(table)), amounts)
        return len(new)

    async def reset_budgets(self, now: float) -> int:
        count = 0
        async with self._connection() as conn, conn.transaction():
            for table in q.PRINCIPALS:
                due = await conn.fetch(_numbered(q.due_for_reset(table)), now)
                for args in q.reset_args(due, now):
                    count += _row_count(await conn.execute(_numbered(q.reset_spend(table)), *args))
        return count

    # plumbing
    async def _fetch_one(
        self, sql: str, args: Sequence[Any], make: Callable[[RowLike], T]
    ) -> T | None:
        async with self._connection() as conn:
            row = await conn.fetchrow(_numbered(sql), *args)
        return make(row) if row is not None else None

    async def _fetch_all(
        self, sql: str, args: Sequence[Any], make: Callable[[RowLike], T]
    ) -> list[T]:
        async with self._connection() as conn:
            rows = await conn.fetch(_numbered(sql), *args)
        return [make(row) for row in rows]

    async def _execute(self, sql: str, args: Sequence[Any]) -> int:
        async with self._connection() as conn:
            return _row_count(await conn.execute(_numbered(sql), *args))

    @asynccontextmanager
    async def _connection(self) -> AsyncIterator[Any]:
        """A pooled connection; driver and network failures leave as ``StoreError``."""
        if self._pool is None:
            raise StoreError("the PostgreSQL store is not open: await store.open() first")
        try:
            async with self._pool.acquire(timeout=self.connect_timeout) as conn:
                yield conn
        except Exception as err:
            self._reraise(err)

    def _reraise(self, err: Exception) -> NoReturn:
        """Raise ``err`` as the store's own error (unchanged if it already is one)."""
        mapped = self._error(err)
        if mapped is err:
            raise err
        raise mapped from err

    def _error(self, err: Exception) -> Exception:
        asyncpg = _driver()
        if isinstance(err, asyncpg.UniqueViolationError):
            return conflict(err.table_name or "", _constraint_column(err))
        if isinstance(err, TimeoutError):
            return StoreError(f"{self._server()} did not answer in time; is it overloaded?")
        if isinstance(err, OSError):
            reason = self._redact(_reason(err))
            return StoreError(f"cannot reach {self._server()} ({reason}): is it running?")
        if isinstance(err, asyncpg.DataError):  # a value of the wrong type for its column
            return ValueError(self._redact(_reason(err)))
        if isinstance(err, asyncpg.PostgresError | asyncpg.InterfaceError):
            return StoreError(f"{self._server()} refused: {self._redact(_reason(err))}")
        return err

    def _server(self) -> str:
        parts = urlsplit(self.url)
        host = parts.hostname or "localhost"
        return f"PostgreSQL at {host}:{parts.port or 5432}{parts.path or ''}"

    def _redact(self, message: str) -> str:
        password = urlsplit(self.url).password
        return message.replace(password, "***") if password else message


def _driver() -> Any:
    import asyncpg  # type: ignore[import-untyped]  # loaded only when PostgreSQL is used

    return asyncpg


@lru_cache(maxsize=512)
def _numbered(sql: str) -> str:
    """``?`` parameters as PostgreSQL's ``$1, $2, ...``."""
    head, *rest = sql.split("?")
    return head + "".join(f"${index}{part}" for index, part in enumerate(rest, 1))


def _row_count(status: str) -> int:
    # asyncpg returns the command tag: "UPDATE 3", "DELETE 0".
    return int(status.rpartition(" ")[2] or 0)


def _constraint_column(err: Any) -> str:
    # PostgreSQL's default names: keys_pkey, keys_key_alias_key.
    table, name = err.table_name or "", err.constraint_name or ""
    if name.endswith("_pkey"):
        return next((t.id_column for t in q.PRINCIPALS if t.name == table), "request_id")
    return name.removeprefix(f"{table}_").removesuffix("_key")


def _reason(err: Exception) -> str:
    return str(err) or type(err).__name__
