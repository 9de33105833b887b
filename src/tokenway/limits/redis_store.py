"""Rate limits counted once for every process that shares a Redis: the ``LimitStore`` of
many processes and machines.

``acquire`` is one round trip: ``lua/acquire.lua`` checks every quota and counts the
request only if all admit, with the windows of ``tokenway.limits.window`` (one-second
buckets as hash fields; the same precision, the same x-ratelimit figures). Time is the
caller's ``now`` (wall time), so the hosts sharing a Redis must keep their clocks in sync
(NTP) to within a fraction of a second.

Parallel slots are leases: a sorted-set member per request, scored by its expiry. This
process renews the leases it holds every ``lease_ttl / 3`` seconds, so a process that dies
frees its slots within ``lease_ttl`` seconds (``acquire.lua`` drops expired leases once a
second, and before it would refuse); ``release`` removes the lease at once.

Faults never stop serving. Every Redis call is bounded (``timeout`` seconds, no retries).
When one fails, the store says so in one warning and counts in this process's memory
(``MemoryLimitStore``) while a probe asks Redis every ``probe_interval`` seconds; when
Redis answers again, counting goes back to it (one info line). Requests admitted during
the outage are not added to Redis's windows afterwards: for at most a minute after it
returns, a limit may admit up to its per-process share again. Spend never goes through
Redis (the journal and the database keep it). With ``refuse_on_outage`` (the strict
choice), a request with limits gets 503 instead while Redis is away (the warning and the
probe are the same).

``redis`` (redis-py) is imported only when a store is started, so ``import tokenway`` and
a proxy without Redis never load it.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import time
from collections.abc import Awaitable, Sequence
from dataclasses import replace
from importlib.resources import files
from typing import Any, NamedTuple

from tokenway.errors import ServiceUnavailableError
from tokenway.limits.memo import Memo
from tokenway.limits.redis_batch import Batches, close_quietly, head, pack, seconds
from tokenway.limits.window import WINDOW, MemoryLimitStore, Quota, RateState

__all__ = ["SLOTS", "RedisLimitStore", "redacted", "redis_unavailable"]

log = logging.getLogger("tokenway.limits")

DEFAULT_PREFIX = "tokenway:"
DEFAULT_TIMEOUT = 0.5  # seconds for any one Redis call
LEASE_TTL = 30.0  # seconds a parallel slot outlives the process that held it
PROBE_INTERVAL = 1.0  # seconds between probes while Redis is unavailable

_UNLIMITED = 2**62
_WHY = {1: "parallel", 2: "requests", 3: "tokens"}
_NONE = -1  # "no limit", in the scripts' arguments and replies
# the limits' scripts, then the budget ledger's (``tokenway.limits.redis_budgets``), then
# the ledger's and the limits' in one call
_SCRIPTS = (
    "acquire.lua",
    "release.lua",
    "budget_reserve.lua",
    "budget_settle.lua",
    "budget_acquire.lua",
    "budget_release.lua",
)
_USES = "-- uses:"
SLOTS = "ps"  # the kind of a quota's parallel slots: leases scored by minus their expiry
_WITH = "-- with:"


def redacted(url: str) -> str:
    """``url`` without its password, for the banner and logs."""
    scheme, sep, rest = url.partition("://")
    if not sep or "@" not in rest:
        return url
    credentials, _, host = rest.rpartition("@")
    user = credentials.split(":", 1)[0]
    return f"{scheme}://{user + ':' if user else ':'}***@{host}"


def _script(name: str) -> str:
    """A script's source. A first line ``-- with: w`` puts ``w.lua``'s text before it (a
    library of functions); ``-- uses: a b`` puts the scripts ``a.lua`` and ``b.lua``
    before it as ``local function a(KEYS, ARGV)``."""
    text = files("tokenway.limits").joinpath("lua", name).read_text(encoding="utf-8")
    first = text.split("\n", 1)[0]
    if first.startswith(_WITH):
        return "".join(_script(part + ".lua") for part in first[len(_WITH) :].split()) + text
    if not first.startswith(_USES):
        return text
    functions = [
        f"local function {part}(KEYS, ARGV)\n{_script(part + '.lua')}end\n"
        for part in first[len(_USES) :].split()
    ]
    return "".join(functions) + text


class RedisLimitStore:
    """Limits in Redis, with this process's memory as the fallback during an outage."""

    def __init__(
        self,
        url: str,
        *,
        prefix: str = DEFAULT_PREFIX,
        timeout: float = DEFAULT_TIMEOUT,
        lease_ttl: float = LEASE_TTL,
        probe_interval: float = PROBE_INTERVAL,
        refuse_on_outage: bool = False,
    ) -> None:
        self.url = url
        self.refuse_on_outage = refuse_on_outage
        self._prefix = prefix
        self._timeout = timeout
        self._lease_ttl = lease_ttl
        self._probe_interval = probe_interval
        self.fallback = MemoryLimitStore()
        self.available = False  # Redis answered the last call
        self._client: Any = None
        self._batches: Batches | None = None
        self._acquire = self._release = ""  # the scripts' SHA1s
        self._ids = itertools.count()
        self._process = f"{os.getpid()}-{os.urandom(4).hex()}"
        # Per quota set (by names): where each admitted request holds its parallel slots,
        # a lease id (Redis) or None (memory). Requests of one set are interchangeable.
        self._holds: dict[tuple[str, ...], list[str | None]] = {}
        self._leases: dict[str, list[str]] = {}  # lease id -> its sorted sets, to renew
        self._probe: asyncio.Task[None] | None = None
        self._renewer: asyncio.Task[None] | None = None
        self._made: Memo[Sequence[Quota], _Commands] = Memo(self._make)
        self._started = asyncio.Event()  # requests taken before ``start`` wait for it
        self.scripts: dict[str, str] = {}  # script file -> its SHA1, once started

    # ---- life ---------------------------------------------------------------------

    async def start(self) -> None:
        """Connect (in the serving loop, after any fork); an unreachable Redis only logs."""
        from redis.asyncio import Redis

        self._client = Redis.from_url(
            self.url,
            socket_timeout=self._timeout,
            socket_connect_timeout=self._timeout,
            retry_on_timeout=False,
            retry=None,
        )
        batches = self._batches = Batches(
            self._client,
            self.url,
            [_script(name) for name in _SCRIPTS],
            self._timeout,
            self.lost,
        )
        self._acquire, self._release = batches.shas[:2]
        self.scripts = dict(zip(_SCRIPTS, batches.shas, strict=True))
        self.available = True
        try:
            await self._call(batches.load())
        except Exception as error:
            self.lost(error)
        self._renewer = asyncio.get_running_loop().create_task(self._renew_leases())
        self._started.set()

    async def aclose(self) -> None:
        if self._batches is not None:
            self._batches.close()
        await close_quietly((self._probe, self._renewer), self._client)

    # ---- the LimitStore protocol ----------------------------------------------------

    async def acquire(self, quotas: Sequence[Quota], now: float) -> RateState:
        if not self._started.is_set():
            await self._started.wait()
        made = self._made.get(quotas)
        if self.available:
            lease = f"{self._process}-{next(self._ids)}"
            try:
                assert self._batches is not None
                # bounded by the batches: its own and the one on the wire before it
                dynamic = pack((seconds(now), lease, seconds(now + self._lease_ttl)))
                reply = await self._batches.call(made.acquire + dynamic + made.acquire_limits)
            except Exception as error:
                self.lost(error)
            else:
                state = rate_state(reply, quotas)
                if state.refused is None and made.parallel:
                    self._holds.setdefault(made.names, []).append(lease)
                    self._leases[lease] = made.leases
                return state
        if self.refuse_on_outage:
            raise redis_unavailable()
        state = await self.fallback.acquire(quotas, now)
        if state.refused is None and made.parallel:
            self._holds.setdefault(made.names, []).append(None)
        return state

    def release(self, quotas: Sequence[Quota], tokens: int, now: float) -> None:
        made = self._made.get(quotas)
        lease: str | None = None
        memory_slot = False
        if made.parallel:
            held = self._holds.get(made.names)
            if held:
                lease = held.pop()
                memory_slot = lease is None
                if lease is not None:
                    del self._leases[lease]
        if memory_slot:
            self.fallback.release(quotas, 0, now)
        if not self.available:
            # A Redis lease cannot be freed now: it expires (it is no longer renewed).
            if tokens > 0:
                self.fallback.release([replace(q, parallel=None) for q in quotas], tokens, now)
            return
        if lease is None and not (tokens > 0 and made.tpm):
            return
        assert self._batches is not None
        self._batches.cast(
            made.release + pack((seconds(now), lease or "", tokens)) + made.release_tpm
        )

    # ---- for the budget ledger, which shares this store's connection and leases ---------

    def call(self, command: bytes) -> Awaitable[Any]:
        """One script call in the next batch (``pack``ed): its reply, or what failed. A
        caller that gets a failure hands it to ``lost`` (counting here from then on, as
        ``acquire`` does). A future, not a coroutine: one frame fewer per request."""
        if self._batches is None or not self._started.is_set():
            return self._call_once_started(command)
        return self._batches.call(command)

    async def _call_once_started(self, command: bytes) -> Any:
        await self._started.wait()
        assert self._batches is not None
        return await self._batches.call(command)

    def cast(self, command: bytes) -> None:
        """One script call whose reply nobody waits for (an error only logs)."""
        if self.available and self._batches is not None:
            self._batches.cast(command)

    def hold(self, lease: str, keys: list[str]) -> None:
        """Renew ``lease`` in the sorted sets ``keys`` while this process lives."""
        self._leases[lease] = keys

    def drop(self, lease: str) -> None:
        self._leases.pop(lease, None)

    @property
    def lease_ttl(self) -> float:
        return self._lease_ttl

    def key(self, name: str) -> str:
        return self._prefix + name

    # ---- Redis calls ------------------------------------------------------------------

    async def _call(self, work: Any) -> Any:
        """Bounded: a call may wait for the batch on the wire, then for its own."""
        async with asyncio.timeout(2 * self._timeout):
            return await work

    def _key(self, kind: str, quota: Quota) -> str:
        return f"{self._prefix}{kind}:{quota.name}"

    def quota_keys(self, quotas: Sequence[Quota]) -> tuple[list[str], list[str]]:
        """The keys ``acquire.lua`` takes (requests window, tokens window, leases, per
        quota) and those ``release.lua`` takes (tokens window, leases). The kinds name
        their layout (``window.lua``'s running totals; leases scored by minus their
        expiry), so processes of a version that kept another never share a key with this
        one."""
        taken = [self._key(kind, q) for q in quotas for kind in ("rq", "tk", SLOTS)]
        return taken, [key for i, key in enumerate(taken) if i % 3]

    def commands(self, quotas: Sequence[Quota]) -> _Commands:
        """The script calls' static parts for ``quotas`` (for the budget ledger's calls),
        made once per set (``Memo``: the caller's tuple, found by identity)."""
        return self._made.get(quotas)

    def _make(self, quotas: Sequence[Quota]) -> _Commands:
        """``EVALSHA sha numkeys KEYS... ARGV...``: see the scripts for their order."""
        keys, released = self.quota_keys(quotas)
        limits = [_NONE if v is None else v for q in quotas for v in (q.rpm, q.tpm, q.parallel)]
        tpm = [1 if q.tpm is not None else 0 for q in quotas]
        return _Commands(
            head(3 + len(keys) + 3 + len(limits))
            + pack(["EVALSHA", self._acquire, len(keys), *keys]),
            pack(limits),
            head(3 + len(released) + 3 + len(tpm))
            + pack(["EVALSHA", self._release, len(released), *released]),
            pack(tpm),
            tuple(q.name for q in quotas),
            any(q.parallel is not None for q in quotas),
            any(q.tpm is not None for q in quotas),
            [self._key(SLOTS, q) for q in quotas if q.parallel is not None],
        )

    # ---- outages ------------------------------------------------------------------------

    def lost(self, error: BaseException) -> None:
        """A call failed: count in this process until Redis answers again (one warning)."""
        if not self.available:
            return
        self.available = False
        log.warning(
            "Redis %s unavailable (%s); %s until it returns",
            redacted(self.url),
            type(error).__name__ if not str(error) else error,
            "requests with limits or budgets are refused (503)"
            if self.refuse_on_outage
            else "rate limits and budgets are counted per process",
        )
        self._probe = asyncio.get_running_loop().create_task(self._wait_for_redis())

    async def _wait_for_redis(self) -> None:
        while True:
            await asyncio.sleep(self._probe_interval)
            try:
                assert self._batches is not None
                await self._call(self._batches.load())  # it may have restarted empty
            except Exception:
                continue
            self.available = True
            log.info("Redis %s is back; rate limits are counted there again", redacted(self.url))
            return

    async def _renew_leases(self) -> None:
        """Push the expiry of every lease this process holds ``lease_ttl`` ahead."""
        while True:
            await asyncio.sleep(self._lease_ttl / 3)
            if not self._leases or not self.available:
                continue
            expiry = time.time() + self._lease_ttl
            pipe = self._client.pipeline(transaction=False)
            for lease, keys in list(self._leases.items()):
                for key in keys:
                    pipe.zadd(key, {lease: -expiry}, xx=True)  # scored as the scripts do
            try:
                await self._call(pipe.execute())
            except Exception as error:
                self.lost(error)


def redis_unavailable() -> ServiceUnavailableError:
    """The strict choice's answer while Redis is away (``redis_outage: refuse``)."""
    return ServiceUnavailableError(
        "the Redis that counts this key's limits and budgets is unavailable; retry shortly",
        code="redis_unavailable",
        retry_after=1.0,
    )


class _Commands(NamedTuple):
    acquire: bytes  # up to the per-call words (now, lease, lease expiry)
    acquire_limits: bytes  # after them
    release: bytes  # up to the per-call words (now, lease, tokens)
    release_tpm: bytes  # after them
    names: tuple[str, ...]  # the quotas' names: where admitted requests hold their slots
    parallel: bool  # a quota limits parallel requests
    tpm: bool  # a quota limits tokens
    leases: list[str]  # the sorted sets of the parallel slots' leases, to renew them


def rate_state(reply: Sequence[int], quotas: Sequence[Quota]) -> RateState:
    """``acquire.lua``'s reply (integers, as the connection parses them) as the verdict
    ``MemoryLimitStore`` would give."""
    if reply[0] == 0:
        _, limit_r, left_r, limit_t, left_t, reset_t = reply
        return RateState(
            None,
            None,
            0.0,
            None if limit_r == _NONE else limit_r,
            _UNLIMITED if limit_r == _NONE else left_r,
            float(WINDOW),
            None if limit_t == _NONE else limit_t,
            _UNLIMITED if limit_t == _NONE else left_t,
            reset_t / 1000,
        )
    _, index, why, retry, limit_r, left_r, reset_r, limit_t, left_t, reset_t = reply
    return RateState(
        _WHY[why],  # type: ignore[arg-type]
        quotas[index - 1],
        retry / 1000,
        None if limit_r == _NONE else limit_r,
        _UNLIMITED if limit_r == _NONE else left_r,
        reset_r / 1000,
        None if limit_t == _NONE else limit_t,
        _UNLIMITED if limit_t == _NONE else left_t,
        reset_t / 1000,
    )
