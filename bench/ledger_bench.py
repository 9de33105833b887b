"""The gate's cost with a shared ledger: CPU µs per request of ``admit`` + ``settle``.

The same key, user and team as ``gate_bench.py`` (every check on, limits never reached),
driven by ``--tasks`` concurrent tasks on one pinned core, through a ``Gate`` whose limits
and budget reservations are shared: in Redis (``RedisLimitStore`` + ``RedisBudgets``,
``--store redis``), or in the counter process of ``--workers N`` (``LocalLimitStore``, forked
here and pinned to the other core), or in this process (``--store memory``: nothing
shared, the reference). Kinds of key, side by side in one run:

* ``budget+limits``: budgets on the key, its user and team, and rpm/tpm/parallel;
* ``key only``: the same on the key alone (its user and team have neither), the shape
  of ``scale_bench.py``'s key;
* ``limits``: rpm/tpm/parallel only (no budget: the ledger is not asked);
* ``plain``: neither (the gate answers without awaiting).

Only this process's CPU is counted (``time.process_time``), not Redis's or the
counter's. Under callgrind (``--core ''``), ``--only`` one case at two sizes gives
instructions per request: the difference of the totals over the difference of the
requests (each run warms up with a tenth of ``--n`` first).

Usage (from the project root)::

    .venv/bin/python bench/ledger_bench.py [--store redis|counter|memory] [--n 40000] [--core 1]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from gate_bench import ALIAS, BIG

from tokenway.limits.budgets import BudgetLedger
from tokenway.limits.local_store import LocalLimitStore, start_counter
from tokenway.limits.redis_budgets import RedisBudgets
from tokenway.limits.redis_store import RedisLimitStore
from tokenway.limits.window import LimitStore, MemoryLimitStore
from tokenway.proxy.accounting.gate import Gate
from tokenway.proxy.accounting.keys import KeyCache, KeyContext
from tokenway.proxy.auth import Authenticator, hash_key
from tokenway.store.base import KeyRecord, Limits, TeamRecord, UserRecord
from tokenway.store.sqlite import SQLiteStore

CASES = ("budget+limits", "key only", "limits", "plain")


def limits(budget: float | None, rates: bool) -> Limits:
    return Limits(
        max_budget=budget,
        budget_duration="30d" if budget is not None else None,
        budget_reset_at=time.time() + 30 * 86400 if budget is not None else None,
        rpm_limit=BIG if rates else None,
        tpm_limit=BIG if rates else None,
        max_parallel_requests=1000 if rates else None,
    )


async def seed(store: SQLiteStore, case: str) -> str:
    """A key (in its own user and team) of ``case``; its plaintext."""
    budget = 1e9 if case in ("budget+limits", "key only") else None
    rates = case != "plain"
    team, user = f"team-{case}", f"user-{case}"
    secret = f"sk-bench-{case.replace(' ', '-')}-0001"
    # "key only": the budget and limits on the key alone (as scale_bench.py's key)
    others = limits(None, False) if case == "key only" else limits(budget, rates)
    await store.create_team(TeamRecord(team, models=[ALIAS], limits=others))
    await store.create_user(UserRecord(user, limits=others))
    record = KeyRecord(
        key_hash=hash_key(secret),
        key_name=f"sk-...{case}",
        user_id=user,
        team_id=team,
        models=[ALIAS],
        limits=limits(budget, rates),
        expires_at=time.time() + 86400,
    )
    await store.create_key(record)
    return secret


async def drive(gate: Gate, ctx: KeyContext, n: int, tasks: int) -> float:
    """CPU µs per request of ``n`` admit + settle over ``tasks`` concurrent tasks."""

    async def worker(count: int) -> None:
        clock = time.time
        for _ in range(count):
            admission = gate.admit_now(ctx, ALIAS, 3.4e-7, clock())
            if admission is None:
                admission = await gate.admit_later(ctx, ALIAS, 3.4e-7, clock())
            admission.header_block()
            await asyncio.sleep(0)  # the upstream call
            admission.settle(2.0e-7, 20)

    async def run(total: int) -> None:
        await asyncio.gather(*(worker(total // tasks) for _ in range(tasks)))

    await run(min(n // 10, 4000))  # warm: scripts loaded, commands made
    start = time.process_time()
    await run(n)
    await asyncio.sleep(0.05)  # the last settles go out
    return (time.process_time() - start) / max(n, 1) * 1e6


async def shared_store(kind: str, directory: str) -> tuple[LimitStore, BudgetLedger | None, int]:
    """The limit store and ledger of ``kind``, started; the counter's pid (or 0)."""
    if kind == "memory":  # nothing shared: the reference
        return MemoryLimitStore(), None, 0
    if kind == "redis":
        redis = RedisLimitStore(os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"))
        await redis.start()
        if not redis.available:
            raise SystemExit("Redis is not reachable (set REDIS_URL)")
        return redis, RedisBudgets(redis), 0
    path = str(Path(directory) / "counter.sock")
    pid = start_counter(path)
    os.sched_setaffinity(pid, {0})  # Redis's place: the other core
    local = LocalLimitStore(path)
    await local.start()
    return local, local, pid


async def run(kind: str, n: int, tasks: int, only: str | None) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        store = SQLiteStore(str(Path(tmp) / "bench.db"))
        await store.open()
        limit_store, ledger, pid = await shared_store(kind, tmp)
        try:
            cache = KeyCache(store, refresh_after=3600.0, max_age=3600.0)
            auth = Authenticator("sk-bench-master", keys=cache)
            gate = Gate(limit_store, budgets=ledger)
            results = {}
            for case in CASES if only is None else (only,):
                secret = await seed(store, case)
                ctx = (await auth.authenticate_async({"authorization": f"Bearer {secret}"})).key
                assert ctx is not None
                results[case] = await drive(gate, ctx, n, tasks)
            return results
        finally:
            if ledger is not None:
                await limit_store.aclose()  # type: ignore[attr-defined]
            await store.close()
            if pid:
                os.kill(pid, signal.SIGTERM)
                os.waitpid(pid, 0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--store", choices=("redis", "counter", "memory"), default="redis")
    parser.add_argument("--n", type=int, default=40_000)
    parser.add_argument("--tasks", type=int, default=64)
    parser.add_argument("--core", default="1", help="'' for no pinning")
    parser.add_argument("--only", choices=CASES)
    args = parser.parse_args()
    if args.core != "":
        os.sched_setaffinity(0, {int(args.core)})
    try:
        import uvloop

        runner: Callable[..., dict[str, float]] = uvloop.run
    except ImportError:
        runner = asyncio.run
    results = runner(run(args.store, args.n, args.tasks, args.only))
    print(f"{args.store}: CPU µs per request of this process, {args.n} requests each")
    for name, micros in results.items():
        print(f"  {name:<14} {micros:7.2f} µs")


if __name__ == "__main__":
    main()
