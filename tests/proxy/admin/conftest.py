"""The ``admin`` fixture: the management API on a loopback port over a real store, once
on a SQLite file and once on a PostgreSQL schema (skipped where PostgreSQL is absent)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from tests.proxy.admin.admin_helpers import Admin, admin_over


@pytest.fixture(params=["sqlite", "postgresql"])
def admin_store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    # A plain (sync) fixture: the PostgreSQL fixtures run a loop of their own.
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'admin.db'}"
    url: str = request.getfixturevalue("postgres_schema_url")
    return url


@pytest.fixture
async def admin(admin_store_url: str) -> AsyncIterator[Admin]:
    async with admin_over(admin_store_url) as running:
        yield running
