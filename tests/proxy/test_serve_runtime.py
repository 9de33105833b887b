"""Per-process pieces of serving: request ids and the collector's settings while serving."""

from __future__ import annotations

import gc
import os

from tokenway.proxy.app import new_request_id
from tokenway.proxy.serve import _serving_gc


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
