"""``open_store``: the dialect follows the URL; importing the package stays cheap."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tokenway.store import DEFAULT_SQLITE_URL, create_store, open_store, redact_url
from tokenway.store.postgres import PostgresStore
from tokenway.store.sqlite import SQLiteStore


@pytest.mark.parametrize(
    ("url", "path"),
    [
        (DEFAULT_SQLITE_URL, "tokenway.db"),
        ("sqlite:///data/spend.db", "data/spend.db"),
        ("sqlite:////var/lib/tokenway/spend.db", "/var/lib/tokenway/spend.db"),
        ("sqlite:///:memory:", ":memory:"),
    ],
)
def test_sqlite_urls_name_a_file_relative_or_absolute(url: str, path: str) -> None:
    store = create_store(url)
    assert isinstance(store, SQLiteStore) and store.path == path
    assert store.dialect == "sqlite"


@pytest.mark.parametrize("scheme", ["postgresql", "postgres"])
def test_postgres_urls(scheme: str) -> None:
    store = open_store(f"{scheme}://app@127.0.0.1:5432/tokenway")
    assert isinstance(store, PostgresStore) and store.dialect == "postgresql"


@pytest.mark.parametrize("url", ["mysql://db/x", "sqlite://", "sqlite:///", "tokenway.db", ""])
def test_other_urls_are_refused_naming_what_works(url: str) -> None:
    with pytest.raises(ValueError, match=r"sqlite:///path/to/file\.db.*postgresql://"):
        open_store(url)


def test_redact_url_hides_only_the_password() -> None:
    assert redact_url("postgresql://app:pw@db:5432/x?sslmode=require") == (
        "postgresql://app:***@db:5432/x?sslmode=require"
    )
    assert redact_url("postgresql://app@db/x") == "postgresql://app@db/x"
    assert redact_url(DEFAULT_SQLITE_URL) == DEFAULT_SQLITE_URL


def test_importing_the_package_loads_no_driver() -> None:
    code = (
        "import sys, tokenway.store; "
        "print(sorted(m for m in ('asyncpg', 'sqlite3') if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.stdout.strip() == "[]", result.stderr
