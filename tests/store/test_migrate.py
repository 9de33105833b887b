"""Migrations: applied in order at open, recorded, never twice, also by ``tokenway migrate``."""

from __future__ import annotations

import asyncio
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tokenway.cli import main as cli_main
from tokenway.store import create_store, open_store
from tokenway.store.migrate import migrations, split_statements

LABELS = [m.label for m in migrations("sqlite")]  # the dialects have the same (tested below)


async def recorded(url: str) -> list[tuple[int, str, float]]:
    """The rows of schema_migrations, read past the store."""
    if url.startswith("sqlite:///"):
        with sqlite3.connect(url.removeprefix("sqlite:///")) as conn:
            return list(conn.execute("SELECT version, name, applied_at FROM schema_migrations"))
    import asyncpg  # type: ignore[import-untyped]

    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetch("SELECT version, name, applied_at FROM schema_migrations")
    finally:
        await conn.close()
    return [tuple(row) for row in rows]


async def test_a_fresh_database_gets_every_migration_once(store_url: str) -> None:
    first = create_store(store_url)
    await first.open()
    await first.close()
    assert [m.label for m in first.applied_migrations] == LABELS
    again = create_store(store_url)
    await again.open()
    await again.close()
    assert again.applied_migrations == []
    recorded_rows = sorted(await recorded(store_url))
    assert [f"{version:03d}_{name}" for version, name, _ in recorded_rows] == LABELS
    assert all(abs(applied_at - time.time()) < 60 for _, _, applied_at in recorded_rows)


async def test_processes_starting_together_apply_each_migration_once(store_url: str) -> None:
    stores = [create_store(store_url) for _ in range(4)]
    await asyncio.gather(*(s.open() for s in stores))
    try:
        assert sum(len(s.applied_migrations) for s in stores) == len(LABELS)
        for s in stores:
            await s.ping()
    finally:
        for s in stores:
            await s.close()
    assert len(await recorded(store_url)) == len(LABELS)


def test_cli_processes_starting_together_apply_once(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'together.db'}"
    command = [sys.executable, "-m", "tokenway.cli", "migrate", "--database-url", url]
    procs = [subprocess.Popen(command, stdout=subprocess.PIPE, text=True) for _ in range(3)]
    outputs = [proc.communicate(timeout=60)[0] for proc in procs]
    assert [proc.returncode for proc in procs] == [0, 0, 0]
    assert sum(out.count("applied 001_init") for out in outputs) == 1


def test_both_dialects_have_the_same_migrations() -> None:
    sqlite_side = [(m.version, m.name) for m in migrations("sqlite")]
    assert sqlite_side == [(m.version, m.name) for m in migrations("postgres")]
    assert sqlite_side[0] == (1, "init")


def test_scripts_split_into_statements_like_sqlite_reads_them() -> None:
    script = "-- a; comment\nCREATE TABLE a (x TEXT DEFAULT ';');\nCREATE INDEX i ON a (x);\n-- end"
    assert split_statements(script) == [
        "-- a; comment\nCREATE TABLE a (x TEXT DEFAULT ';');",
        "CREATE INDEX i ON a (x);",
    ]
    with pytest.raises(ValueError, match="unterminated"):
        split_statements("CREATE TABLE a (x TEXT)")


def test_cli_applies_then_reports_nothing_to_do(
    store_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli_main(["migrate", "--database-url", store_url]) == 0
    first = capsys.readouterr().out
    assert "applied 001_init" in first and f"latest migration ({LABELS[-1]})" in first
    assert cli_main(["migrate", "--database-url", store_url]) == 0
    assert "applied" not in capsys.readouterr().out.splitlines()[0]


def test_cli_defaults_to_database_url_then_the_local_sqlite_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_URL", "sqlite:///from-env/app.db")
    assert cli_main(["migrate"]) == 0
    assert (tmp_path / "from-env" / "app.db").exists()
    monkeypatch.delenv("DATABASE_URL")
    assert cli_main(["migrate"]) == 0
    assert (tmp_path / "tokenway.db").exists()
    assert "sqlite:///tokenway.db" in capsys.readouterr().out


def test_cli_explains_a_bad_url_without_the_password(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_main(["migrate", "--database-url", "mysql://u:hunter2@db/x"]) == 1
    err = capsys.readouterr().err
    assert "unsupported database URL" in err and "postgresql://" in err
    assert "hunter2" not in err
    assert cli_main(["migrate", "--database-url", "postgresql://u:hunter2@127.0.0.1:1/x"]) == 1
    err = capsys.readouterr().err
    assert "cannot reach PostgreSQL at 127.0.0.1:1/x" in err and "hunter2" not in err


async def test_a_memory_database_is_migrated_too() -> None:
    store = open_store("sqlite:///:memory:")
    await store.open()
    try:
        await store.ping()
        assert await store.list_keys() == []
    finally:
        await store.close()
