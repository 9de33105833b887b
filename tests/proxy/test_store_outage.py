"""A real PostgreSQL outage, made by cutting a TCP relay between the proxy and the database.

While the store is unreachable: keys the proxy has cached keep working, unknown keys are
refused with 503 (unless ``allow_requests_on_db_unavailable``), and spend rows wait in the
journal. When it is back, every row reaches the store.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest
from tests.proxy.virtual_key_helpers import (
    ALIAS,
    MESSAGES,
    Management,
    flushed_rows,
    keyed_proxy,
    sdk,
    wait_for,
)

from tokenway.emulator import Emulator


class Relay:
    """A TCP relay on a loopback port to ``target``; ``cut()`` drops every connection and
    refuses new ones until ``restore()``."""

    def __init__(self, target: tuple[str, int]) -> None:
        self._target = target
        self._open = True
        self._writers: set[asyncio.StreamWriter] = set()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        self._server = self._run(asyncio.start_server(self._serve, "127.0.0.1", 0))
        self.port: int = self._server.sockets[0].getsockname()[1]

    def cut(self) -> None:
        self._run(self._cut())

    def restore(self) -> None:
        self._open = True

    def close(self) -> None:
        self._run(self._cut())
        self._server.close()
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)

    def _run(self, work: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(work, self._loop).result(10)

    async def _cut(self) -> None:
        self._open = False
        for writer in list(self._writers):
            writer.transport.abort()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if not self._open:
            writer.transport.abort()
            return
        up_reader, up_writer = await asyncio.open_connection(*self._target)
        self._writers |= {writer, up_writer}
        await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))
        self._writers -= {writer, up_writer}


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        writer.transport.abort()


@pytest.fixture
def relayed_url(postgres_schema_url: str) -> Iterator[tuple[str, Relay]]:
    parts = urlsplit(postgres_schema_url)
    relay = Relay((parts.hostname or "127.0.0.1", parts.port or 5432))
    netloc = (
        f"{parts.username}@127.0.0.1:{relay.port}" if parts.username else f"127.0.0.1:{relay.port}"
    )
    try:
        yield urlunsplit(parts._replace(netloc=netloc)), relay
    finally:
        relay.close()


def test_an_outage_keeps_known_keys_working_and_loses_no_spend(
    emulator: Emulator, relayed_url: tuple[str, Relay]
) -> None:
    url, relay = relayed_url
    with keyed_proxy(emulator, url, proxy_batch_write_at=0.2) as proxy:
        admin = Management(proxy)
        known = admin.new_key()
        unknown = admin.new_key()
        client = sdk(proxy, known["key"])
        client.chat.completions.create(model=ALIAS, messages=MESSAGES, max_tokens=5)

        relay.cut()
        answered = [
            client.chat.completions.create(model=ALIAS, messages=MESSAGES, max_tokens=5).id
            for _ in range(5)
        ]
        assert len(answered) == 5  # the cached key works with the database gone
        refused = sdk(proxy, unknown["key"]).with_options(max_retries=0)
        with pytest.raises(Exception) as failed:
            refused.chat.completions.create(model=ALIAS, messages=MESSAGES, max_tokens=5)
        assert getattr(failed.value, "status_code", None) == 503
        writer = proxy.app.services.writer
        assert writer is not None
        wait_for(lambda: writer.flush_failures or None)  # the writer tried, and failed
        assert writer.rows_pending >= 5  # waiting in the journal

        relay.restore()
        rows = flushed_rows(admin, 6, api_key=known["token"])  # one before, five during
        assert len({row["request_id"] for row in rows}) == len(rows) == 6
