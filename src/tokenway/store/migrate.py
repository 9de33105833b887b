"""Numbered SQL migrations per dialect, and ``tokenway migrate``.

``migrations/<dialect>/NNN_name.sql`` run in order; each applied one is a row of
``schema_migrations``. Every store runs pending ones at ``open()`` inside one transaction
that first takes a lock (SQLite: ``BEGIN IMMEDIATE``; PostgreSQL: an advisory lock), so
two processes starting together apply each migration once.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sqlite3
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any

__all__ = ["Migration", "apply_postgres", "apply_sqlite", "main", "migrate", "migrations"]

CREATE_TABLE = (
    "CREATE TABLE IF NOT EXISTS schema_migrations ("
    "version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at {time} NOT NULL)"
)
RECORD = "INSERT INTO schema_migrations (version, name, applied_at) VALUES ({marks})"
# Any fixed 64-bit number works; this one spells "tokenway" in ASCII.
ADVISORY_LOCK_ID = 0x746F6B656E776179


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def label(self) -> str:
        return f"{self.version:03d}_{self.name}"


def migrations(dialect: str) -> list[Migration]:
    """The dialect's migrations in version order, read from the package data."""
    folder = resources.files("tokenway.store").joinpath("migrations", dialect)
    found = []
    for entry in folder.iterdir():
        stem, dot, ext = entry.name.partition(".")
        number, _, name = stem.partition("_")
        if dot and ext == "sql" and number.isdigit():
            found.append(Migration(int(number), name, entry.read_text(encoding="utf-8")))
    return sorted(found, key=lambda m: m.version)


def apply_sqlite(conn: sqlite3.Connection) -> list[Migration]:
    """Apply pending migrations on an autocommit connection; return the ones applied."""
    conn.execute("BEGIN IMMEDIATE")  # the write lock: a second process waits here
    try:
        conn.execute(CREATE_TABLE.format(time="REAL"))
        done = {row[0] for row in conn.execute("SELECT version FROM schema_migrations")}
        pending = [m for m in migrations("sqlite") if m.version not in done]
        for migration in pending:
            for statement in split_statements(migration.sql):
                conn.execute(statement)
            conn.execute(RECORD.format(marks="?, ?, ?"), _record(migration))
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return pending


async def apply_postgres(conn: Any) -> list[Migration]:
    """Apply pending migrations on an asyncpg connection; return the ones applied."""
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", ADVISORY_LOCK_ID)
        await conn.execute(CREATE_TABLE.format(time="DOUBLE PRECISION"))
        done = {row[0] for row in await conn.fetch("SELECT version FROM schema_migrations")}
        pending = [m for m in migrations("postgres") if m.version not in done]
        for migration in pending:
            await conn.execute(migration.sql)
            await conn.execute(RECORD.format(marks="$1, $2, $3"), *_record(migration))
    return pending


def split_statements(script: str) -> list[str]:
    """Statements of a script: ``executescript`` would commit our open transaction."""
    statements, start = [], 0
    for index, char in enumerate(script):
        if char == ";" and sqlite3.complete_statement(script[start : index + 1]):
            statements.append(script[start : index + 1].strip())
            start = index + 1
    if script[start:].strip() and not _only_comments(script[start:]):
        raise ValueError("a migration ends with an unterminated statement")
    return statements


async def migrate(url: str) -> tuple[list[Migration], list[Migration]]:
    """Open the store at ``url`` (which applies what is pending); return (applied, all)."""
    from tokenway.store import create_store

    store = create_store(url)
    await store.open()
    try:
        return store.applied_migrations, migrations(store.migrations_dialect)
    finally:
        await store.close()


def main(argv: Sequence[str]) -> int:
    from tokenway.store import DEFAULT_SQLITE_URL, StoreError, redact_url

    parser = argparse.ArgumentParser(
        prog="tokenway migrate", description="apply pending database migrations"
    )
    parser.add_argument(
        "--database-url",
        default=os.environ.get("DATABASE_URL") or DEFAULT_SQLITE_URL,
        help=f"sqlite:///file.db or postgresql://... (env DATABASE_URL, else {DEFAULT_SQLITE_URL})",
    )
    args = parser.parse_args(argv)
    where = redact_url(args.database_url)
    try:
        applied, known = asyncio.run(migrate(args.database_url))
    except (StoreError, ValueError) as err:
        print(f"tokenway migrate: {where}: {err}", file=sys.stderr)
        return 1
    for migration in applied:
        print(f"applied {migration.label}")
    latest = known[-1].label if known else "none"
    print(f"{where} is at the latest migration ({latest})")
    return 0


def _record(migration: Migration) -> tuple[int, str, float]:
    return migration.version, migration.name, time.time()


def _only_comments(text: str) -> bool:
    return all(not line.strip() or line.strip().startswith("--") for line in text.splitlines())
