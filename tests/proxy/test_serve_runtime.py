"""Per-process pieces of serving: request ids, the collector's settings while serving,
and the order of start-up (no request is taken before the spend writer is up)."""

from __future__ import annotations

import asyncio
import gc
import http.client
import os
import signal
import sqlite3
import threading
from pathlib import Path

import orjson
from tests.proxy.conftest import MASTER_KEY, proxy_config
from tests.proxy.crash_helpers import DB_FILE, stored_rows

from tokenway.emulator import Emulator
from tokenway.proxy.app import create_app, new_request_id
from tokenway.proxy.serve import ServeOptions, _serving_gc, bind_socket, serve_app


def test_request_ids_are_unique_and_time_ordered() -> None:
    ids = [new_request_id() for _ in range(1000)]
    assert len(set(ids)) == len(ids)
    assert ids == sorted(ids)  # appended to the store's index, not scattered over it
    assert all(16 <= len(i) <= 128 and int(i, 16) >= 0 for i in ids)


def test_a_forked_worker_draws_its_own_ids() -> None:
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report one id and leave at once
        os.write(write, new_request_id().encode())
        os._exit(0)
    os.close(write)
    os.waitpid(pid, 0)
    child = os.read(read, 200).decode()
    os.close(read)
    mine = new_request_id()
    assert child and child != mine
    assert child[:-10] != mine[:-10]  # another prefix: the counters may coincide


def test_gc_is_tuned_while_serving_and_restored_after() -> None:
    before = gc.get_threshold()
    with _serving_gc():
        assert gc.get_threshold()[0] == 10_000
        assert gc.get_freeze_count() > 0
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0


def _chat(port: int, request_id: str) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
    try:
        body = {"model": "llama-3.1-8b-instruct", "messages": [{"role": "user", "content": "hi"}]}
        headers = {"authorization": f"Bearer {MASTER_KEY}", "x-request-id": request_id}
        conn.request("POST", "/v1/chat/completions", body=orjson.dumps(body), headers=headers)
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        conn.close()


def test_a_request_made_while_the_store_opens_waits_and_its_spend_row_is_stored(
    emulator: Emulator, tmp_path: Path
) -> None:
    """A worker of ``--workers 2`` whose store opens slowly (the other worker holds the
    SQLite write lock for its migrations, on a loaded machine) while clients already
    connect: their requests wait for the start, and every spend row reaches the store.
    Taking connections before the spend writer existed dropped those rows silently
    (``Services`` now also keeps such a row, see ``tests/proxy/test_services.py``)."""
    other_worker = sqlite3.connect(
        tmp_path / DB_FILE, isolation_level=None, check_same_thread=False
    )
    other_worker.execute("PRAGMA journal_mode = WAL")
    other_worker.execute("BEGIN IMMEDIATE")  # the proxy's migrations wait for it
    app = create_app(proxy_config(emulator.base_url), env={}, data_dir=tmp_path)
    sock = bind_socket("127.0.0.1", 0)
    port = sock.getsockname()[1]
    answered = threading.Event()
    statuses: list[int] = []
    before_start: list[bool] = []

    def client() -> None:
        try:
            statuses.append(_chat(port, "early"))
        finally:
            answered.set()
        os.kill(os.getpid(), signal.SIGTERM)  # serve_app's handler: drain and stop

    def other_worker_commits() -> None:
        before_start.append(answered.wait(2.0))  # within the store's busy timeout (5 s)
        other_worker.execute("COMMIT")

    threads = [threading.Thread(target=client), threading.Thread(target=other_worker_commits)]
    for thread in threads:
        thread.start()
    try:
        options = ServeOptions("127.0.0.1", port, shutdown_timeout=5)
        assert asyncio.run(asyncio.wait_for(serve_app(app, sock, options), 30)) == 0
    finally:
        for thread in threads:
            thread.join(30)
        other_worker.close()
        sock.close()
    assert before_start == [False]  # not answered by a proxy whose store was not open
    assert statuses == [200]
    assert [row.request_id for row in stored_rows(None, tmp_path)] == ["early"]
