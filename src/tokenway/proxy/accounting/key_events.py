"""Key changes told to every instance sharing a Redis (pub/sub), so a key revoked, blocked
or changed on one instance stops or changes on all of them at once, not after the key
cache's refresh (``KeyCache``: about 2 s plus a query).

The instance that changes a key publishes its hash on ``<prefix>key-changes``; every
instance (itself included) drops that key from its cache when the message arrives. While
Redis is away, messages are lost and the cache's time bound is the fallback; the listener
reconnects every second and says so once per outage. Publishing never blocks a request:
it is sent in the background, bounded by ``timeout``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

__all__ = ["KeyEvents"]

log = logging.getLogger("tokenway.proxy")

_RETRY = 1.0  # seconds between attempts to listen again


class KeyEvents:
    def __init__(
        self, url: str, prefix: str, on_change: Callable[[str], None], timeout: float = 0.5
    ) -> None:
        self._url = url
        self.channel = f"{prefix}key-changes"
        self._on_change = on_change
        self._timeout = timeout
        self._client: Any = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._listener: asyncio.Task[None] | None = None
        self.listening = asyncio.Event()  # subscribed now

    async def start(self) -> None:
        from redis.asyncio import Redis

        # No socket timeout: the listener waits on its connection for as long as it is quiet.
        self._client = Redis.from_url(self._url, socket_connect_timeout=self._timeout)
        self._listener = asyncio.get_running_loop().create_task(self._listen())

    def publish(self, key_hash: str) -> None:
        """Tell every instance that ``key_hash`` changed (in the background)."""
        task = asyncio.get_running_loop().create_task(self._publish(key_hash))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def aclose(self) -> None:
        for task in (self._listener, *self._tasks):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        if self._client is not None:
            with contextlib.suppress(Exception):
                await self._client.aclose()

    async def _publish(self, key_hash: str) -> None:
        try:
            async with asyncio.timeout(self._timeout):
                await self._client.publish(self.channel, key_hash)
        except Exception as error:
            log.warning(
                "could not tell other instances that a key changed (%s); they see it "
                "within the key cache's refresh",
                type(error).__name__,
            )

    async def _listen(self) -> None:
        warned = False
        while True:
            pubsub = self._client.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(self.channel)
                self.listening.set()
                if warned:
                    log.info("listening to key changes on Redis again")
                    warned = False
                async for message in pubsub.listen():
                    data = message.get("data")
                    if isinstance(data, bytes):
                        self._on_change(data.decode("ascii", "replace"))
            except Exception as error:
                self.listening.clear()
                if not warned:
                    warned = True
                    log.warning(
                        "key changes from other instances are not heard (Redis: %s); keys "
                        "follow them within the key cache's refresh until it returns",
                        type(error).__name__,
                    )
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()
            await asyncio.sleep(_RETRY)
