"""Issue 5, "nothing lost": SIGKILL the proxy under load, restart it, count the spend rows.

Every request whose answer the client received in full (a plain 200 with its whole JSON
body, a stream that reached ``data: [DONE]``) has exactly one spend row once the restarted
proxy has replayed its journal, with a cost, on SQLite and on PostgreSQL, whether the
rows were still only in the journal at the kill or partly flushed already.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.proxy.conftest import UPSTREAM_KEY
from tests.proxy.crash_helpers import (
    Load,
    StoredRow,
    journaled_ids,
    stored_rows,
    tokenway_process,
    wait_for_rows,
    write_config,
)

from tokenway.emulator import Emulator, EmulatorConfig, FaultConfig, run_emulator_in_thread

LOAD_SECONDS = 1.2  # then SIGKILL, with requests still in flight
LONG_BATCH_INTERVAL = 30.0  # nothing reaches the store before the kill: replay does it all


@pytest.fixture(scope="module")
def slow_emulator() -> Iterator[Emulator]:
    """Upstream latency and paced chunks, so that the kill finds answers half sent."""
    faults = FaultConfig(latency_ms=20, latency_jitter_ms=30, chunk_delay_ms=2)
    config = EmulatorConfig(api_keys=(UPSTREAM_KEY,), rpm=1_000_000, faults=faults)
    with run_emulator_in_thread(config) as emu:
        yield emu


@pytest.mark.parametrize(
    "batch_interval", [LONG_BATCH_INTERVAL, None], ids=["rows-only-in-journal", "default-batches"]
)
def test_sqlite_kill_under_load_loses_no_spend_row(
    slow_emulator: Emulator, tmp_path: Path, batch_interval: float | None
) -> None:
    general = {} if batch_interval is None else {"proxy_batch_write_at": batch_interval}
    crash_and_restart(slow_emulator.base_url, tmp_path, None, general)


def test_postgres_kill_under_load_loses_no_spend_row(
    slow_emulator: Emulator, tmp_path: Path, postgres_schema_url: str
) -> None:
    general = {"database_url": postgres_schema_url, "proxy_batch_write_at": LONG_BATCH_INTERVAL}
    crash_and_restart(slow_emulator.base_url, tmp_path, postgres_schema_url, general)


def crash_and_restart(
    api_base: str, tmp_path: Path, database_url: str | None, general: dict[str, Any]
) -> None:
    workdir = tmp_path / "proxy"
    workdir.mkdir()
    config = write_config(tmp_path / "config.yaml", api_base, **general)
    with tokenway_process(config, workdir, "first") as first:
        load = Load(first.port)
        load.start()
        time.sleep(LOAD_SECONDS)
        first.kill()
        load.stop()
    assert len(load.received) >= 10, f"too little load to test anything: {load.sent} sent"
    journaled = journaled_ids(workdir)
    unwritten = load.received - journaled.keys() - _ids(stored_rows(database_url, workdir))
    assert not unwritten, f"answered in full with no row journaled or stored: {unwritten}"
    if general.get("proxy_batch_write_at") == LONG_BATCH_INTERVAL:
        assert load.received <= journaled.keys(), "rows reached the store before the kill"

    with tokenway_process(config, workdir, "second") as second:
        wait_for_rows(database_url, workdir, load.received)
        assert second.stop() == 0, second.log.read_text()
    assert_one_row_each(stored_rows(database_url, workdir), load.received)
    assert not journaled_ids(workdir), "replayed rows were left in the journal"


def assert_one_row_each(rows: list[StoredRow], received: set[str]) -> None:
    counts = Counter(row.request_id for row in rows)
    duplicated = {request_id: n for request_id, n in counts.items() if n > 1}
    assert not duplicated, f"request ids with more than one spend row: {duplicated}"
    missing = received - counts.keys()
    assert not missing, f"{len(missing)} of {len(received)} answered requests have no row"
    for row in rows:
        if row.request_id in received:
            assert (row.status, row.error_code) == (200, None), row
        if row.status == 200 and row.error_code is None:
            assert row.cost is not None and row.cost > 0, row


def _ids(rows: list[StoredRow]) -> set[str]:
    return {row.request_id for row in rows}
