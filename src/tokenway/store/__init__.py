"""Keys, users, teams and spend: ``open_store(url)`` picks the dialect from the URL.

``sqlite:///tokenway.db`` (relative to the working directory), ``sqlite:////abs/x.db``
and ``sqlite:///:memory:`` select the embedded store; ``postgresql://...`` or
``postgres://...`` the server one. The dialect modules (and their drivers) load only
when a store of theirs is built, so importing this package stays cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import urlsplit, urlunsplit

from tokenway.store.base import (
    ConflictError,
    GroupBy,
    KeyRecord,
    Limits,
    SpendFilter,
    SpendRow,
    SpendTotal,
    Store,
    StoreError,
    TeamRecord,
    UserRecord,
)
from tokenway.store.durations import parse_duration

if TYPE_CHECKING:
    from tokenway.store.postgres import PostgresStore
    from tokenway.store.sqlite import SQLiteStore

__all__ = [
    "DEFAULT_SQLITE_URL",
    "ConflictError",
    "GroupBy",
    "KeyRecord",
    "Limits",
    "SpendFilter",
    "SpendRow",
    "SpendTotal",
    "Store",
    "StoreError",
    "TeamRecord",
    "UserRecord",
    "create_store",
    "open_store",
    "parse_duration",
    "redact_url",
]

DEFAULT_SQLITE_URL = "sqlite:///tokenway.db"
SQLITE_PREFIX = "sqlite:///"
POSTGRES_SCHEMES = ("postgresql", "postgres")


def open_store(url: str) -> Store:
    """The store for ``url``, not yet connected: ``await store.open()`` before use."""
    return create_store(url)


def create_store(url: str) -> SQLiteStore | PostgresStore:
    """``open_store`` with the concrete type (for tools that need dialect extras)."""
    scheme = url.partition(":")[0].lower()
    if scheme == "sqlite" and url.startswith(SQLITE_PREFIX) and len(url) > len(SQLITE_PREFIX):
        from tokenway.store.sqlite import SQLiteStore

        return SQLiteStore(url[len(SQLITE_PREFIX) :])
    if scheme in POSTGRES_SCHEMES:
        from tokenway.store.postgres import PostgresStore

        return PostgresStore(url)
    raise ValueError(
        f"unsupported database URL {redact_url(url)!r}: use sqlite:///path/to/file.db "
        "(sqlite:///:memory: for a throwaway store) or postgresql://user@host:5432/dbname"
    )


def redact_url(url: str) -> str:
    """``url`` without its password, for messages and logs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    userinfo, _, host = parts.netloc.rpartition("@")
    user = userinfo.partition(":")[0]
    return urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))
