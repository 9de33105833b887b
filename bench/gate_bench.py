"""Virtual-key enforcement cost: µs of CPU per request for auth, ``admit`` and ``settle``.

A key with every check on (expiry, models, budget, rpm, tpm, max_parallel_requests) in a
team and a user that have budgets and limits too, resolved once into the ``KeyCache``
(a SQLite store in a temporary directory), then driven in a loop on one pinned core:

* ``master auth``: ``Authenticator.authenticate`` with the master key (the baseline);
* ``virtual auth``: ``authenticate`` + ``resolve`` (a fresh cache hit);
* ``estimate``: ``estimate_cost`` of a small chat body;
* ``admit+settle``: ``Gate.admit`` + ``Admission.headers`` + ``Admission.settle``;
* ``virtual request``: all of the above for one request, as the proxy's call sites did
  (``authenticate``, ``await resolve``, ``await admit``);
* ``virtual fast``: the same request through the hot paths (``authenticate`` comes back
  resolved on a fresh hit, ``admit_now`` before ``await admit``);
* ``fast - master``: what a virtual key costs on top of the master key.

Usage (from the project root)::

    .venv/bin/python bench/gate_bench.py [--n 200000] [--core 1]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from tokenway.proxy.accounting.gate import Gate, estimate_cost
from tokenway.proxy.accounting.keys import KeyCache
from tokenway.proxy.auth import Authenticator, hash_key
from tokenway.store.base import KeyRecord, Limits, TeamRecord, UserRecord
from tokenway.store.sqlite import SQLiteStore

MASTER = "sk-bench-master"
VIRTUAL = "sk-bench-virtual-key-0001"
ALIAS = "llama-3.1-8b-instruct"
BODY = {"model": ALIAS, "messages": [{"role": "user", "content": "Say hello."}], "max_tokens": 16}
BIG = 10**12  # limits that are checked on every request but never reached


def limits(budget: float) -> Limits:
    return Limits(
        max_budget=budget,
        budget_duration="30d",
        budget_reset_at=time.time() + 30 * 86400,
        rpm_limit=BIG,
        tpm_limit=BIG,
        max_parallel_requests=1000,
    )


async def seed(store: SQLiteStore) -> str:
    await store.create_team(TeamRecord("bench-team", models=[ALIAS, "other"], limits=limits(1e9)))
    await store.create_user(UserRecord("bench-user", limits=limits(1e9)))
    key = KeyRecord(
        key_hash=hash_key(VIRTUAL),
        key_name="sk-...0001",
        user_id="bench-user",
        team_id="bench-team",
        models=[ALIAS],
        limits=limits(1e9),
        expires_at=time.time() + 86400,
    )
    await store.create_key(key)
    return key.key_hash


PRICE = (2e-8, 2e-8)  # per prompt token, per completion token


async def timed(n: int, step: Callable[[], Awaitable[object]]) -> float:
    for _ in range(min(n // 10, 10_000)):
        await step()
    start = time.process_time()
    for _ in range(n):
        await step()
    return (time.process_time() - start) / n * 1e6


async def run(n: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        store = SQLiteStore(str(Path(tmp) / "bench.db"))
        await store.open()
        try:
            await seed(store)
            cache = KeyCache(store, refresh_after=3600.0, max_age=3600.0)
            auth = Authenticator(MASTER, keys=cache)
            gate = Gate()
            master_headers = {"authorization": f"Bearer {MASTER}"}
            virtual_headers = {"authorization": f"Bearer {VIRTUAL}"}
            ctx = (await auth.authenticate_async(virtual_headers)).key
            assert ctx is not None

            async def master() -> object:
                return auth.authenticate(master_headers)

            async def virtual() -> object:
                return await auth.resolve(auth.authenticate(virtual_headers))

            async def estimate() -> object:
                return estimate_cost(BODY, PRICE)

            async def admit_settle() -> object:
                admission = await gate.admit(ctx, ALIAS, 3.4e-7, time.time())
                admission.headers()
                admission.settle(2.0e-7, 20)
                return admission

            async def fast() -> object:
                principal = auth.authenticate(virtual_headers)
                if principal.unresolved:
                    principal = await auth.resolve(principal)
                assert principal.key is not None
                cost = estimate_cost(BODY, PRICE, prompt_tokens=120)
                admission = gate.admit_now(principal.key, ALIAS, cost, time.time())
                if admission is None:
                    admission = await gate.admit(principal.key, ALIAS, cost, time.time())
                admission.headers()
                admission.settle(2.0e-7, 20)
                return admission

            async def whole() -> object:
                principal = await auth.resolve(auth.authenticate(virtual_headers))
                assert principal.key is not None
                cost = estimate_cost(BODY, PRICE)
                admission = await gate.admit(principal.key, ALIAS, cost, time.time())
                admission.headers()
                admission.settle(2.0e-7, 20)
                return admission

            results = {
                "master auth": await timed(n, master),
                "virtual auth": await timed(n, virtual),
                "estimate": await timed(n, estimate),
                "admit+settle": await timed(n, admit_settle),
                "virtual request": await timed(n, whole),
            }
            results["virtual fast"] = await timed(n, fast)
            results["virtual - master"] = results["virtual request"] - results["master auth"]
            results["fast - master"] = results["virtual fast"] - results["master auth"]
            return results
        finally:
            await store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--n", type=int, default=200_000)
    parser.add_argument("--core", type=int, default=1)
    args = parser.parse_args()
    os.sched_setaffinity(0, {args.core})
    try:
        import uvloop

        runner: Callable[..., dict[str, float]] = uvloop.run
    except ImportError:
        runner = asyncio.run
    results = runner(run(args.n))
    print(f"pinned to core {args.core}; CPU µs per call, {args.n} calls each")
    for name, micros in results.items():
        print(f"  {name:<18} {micros:7.2f} µs")


if __name__ == "__main__":
    main()
