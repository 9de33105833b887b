"""The routing statistics every instance sharing a Redis reports to the others: calls in
flight and latency per deployment (``tokenway.router.shared``: approximate by design).

Every ``interval`` seconds each instance writes its figures into one hash per deployment
(``<prefix>rs:<deployment id>``, a field per instance, with the time written) and reads
the others' back, in one pipeline. Reports older than three intervals are ignored (an
instance that stopped), and the hashes expire when nobody writes them. While Redis is
away the others' figures are dropped (each instance balances on its own again); the limit
store's warning already said Redis is away.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from typing import Any

from tokenway.limits.redis_batch import close_quietly
from tokenway.router.shared import SharedCooldowns

__all__ = ["RouterStats"]

INTERVAL = 0.5  # seconds between reports


class RouterStats:
    def __init__(
        self, url: str, prefix: str, state: SharedCooldowns, interval: float = INTERVAL
    ) -> None:
        self._url = url
        self._prefix = f"{prefix}rs:"
        self._state = state
        self._interval = interval
        self._me = f"{os.getpid()}-{os.urandom(4).hex()}"
        self._client: Any = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        from redis.asyncio import Redis

        timeout = self._interval
        self._client = Redis.from_url(
            self._url, socket_timeout=timeout, socket_connect_timeout=timeout
        )
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def aclose(self) -> None:
        await close_quietly((self._task,), self._client)

    async def exchange(self) -> None:
        """Report this instance's figures and take the others' (one round trip)."""
        mine = self._state.snapshot()
        now = time.time()
        pipe = self._client.pipeline(transaction=False)
        keep = max(2, int(self._interval * 6))
        for ident, (in_flight, latency) in mine.items():
            key = self._prefix + ident
            pipe.hset(key, self._me, f"{in_flight} {latency!r} {now!r}")
            pipe.expire(key, keep)
            pipe.hgetall(key)
        replies = await pipe.execute()
        self._state.apply_remote(self._others(list(mine), replies[2::3], now))

    def _others(
        self, idents: list[str], reports: list[dict[bytes, bytes]], now: float
    ) -> dict[str, tuple[int, list[float]]]:
        me, fresh = self._me.encode(), now - 3 * self._interval
        others: dict[str, tuple[int, list[float]]] = {}
        for ident, fields in zip(idents, reports, strict=True):
            in_flight, latencies = 0, []
            for who, value in fields.items():
                count, latency, at = value.split()
                if who == me or float(at) < fresh:
                    continue
                in_flight += max(0, int(count))
                if float(latency) > 0:
                    latencies.append(float(latency))
            others[ident] = (in_flight, latencies)
        return others

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            try:
                async with asyncio.timeout(self._interval * 2):
                    await self.exchange()
            except Exception:  # Redis away: each instance on its own figures meanwhile
                with contextlib.suppress(Exception):
                    self._state.apply_remote({})
