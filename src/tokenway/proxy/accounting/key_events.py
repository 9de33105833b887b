"""Events told to every instance sharing a Redis (pub/sub).

Key changes: a key revoked, blocked or changed on one instance stops or changes on all of
them at once, not after the key cache's refresh (``KeyCache``: about 2 s plus a query).
The instance that changes a key publishes its hash on ``<prefix>key-changes``; every
instance (itself included) drops that key from its cache when the message arrives.

Cooldowns: a deployment cooled down (or recovered) by one instance is by all of them
(``tokenway.router.shared``), on ``<prefix>cooldowns``; an instance skips its own. While
Redis is away, messages are lost and the cache's time bound is the fallback; the listener
reconnects every second and says so once per outage. Publishing never blocks a request:
it is sent in the background, bounded by ``timeout``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Callable
from typing import Any

import orjson

from tokenway.limits.redis_batch import close_quietly

__all__ = ["KeyEvents"]

log = logging.getLogger("tokenway.proxy")

_RETRY = 1.0  # seconds between attempts to listen again


class KeyEvents:
    def __init__(
        self, url: str, prefix: str, on_change: Callable[[str], None], timeout: float = 0.5
    ) -> None:
        self._url = url
        self.channel = f"{prefix}key-changes"
        self.cooldowns = f"{prefix}cooldowns"
        self._on_change = on_change
        # (deployment id, seconds left) from another instance; set by the app
        self.on_cooldown: Callable[[str, float], None] | None = None
        self._origin = f"{os.getpid()}-{os.urandom(4).hex()}"
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
        self._send(self.channel, key_hash)

    def publish_cooldown(self, deployment_id: str, seconds: float) -> None:
        """Tell the other instances that a deployment rests ``seconds`` (0: recovered)."""
        self._send(self.cooldowns, orjson.dumps([self._origin, deployment_id, seconds]))

    def _send(self, channel: str, message: str | bytes) -> None:
        task = asyncio.get_running_loop().create_task(self._publish(channel, message))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def aclose(self) -> None:
        await close_quietly((self._listener, *self._tasks), self._client)

    async def _publish(self, channel: str, message: str | bytes) -> None:
        try:
            async with asyncio.timeout(self._timeout):
                await self._client.publish(channel, message)
        except Exception as error:
            log.warning(
                "could not tell other instances about a change (%s): a key change reaches "
                "them within the key cache's refresh, a cooldown not at all",
                type(error).__name__,
            )

    async def _listen(self) -> None:
        warned = False
        while True:
            pubsub = self._client.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(self.channel, self.cooldowns)
                self.listening.set()
                if warned:
                    log.info("listening to key changes on Redis again")
                    warned = False
                async for message in pubsub.listen():
                    self._heard(message.get("channel"), message.get("data"))
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

    def _heard(self, channel: object, data: object) -> None:
        if not isinstance(data, bytes):
            return
        if channel == self.channel.encode():
            self._on_change(data.decode("ascii", "replace"))
            return
        try:
            origin, deployment_id, seconds = orjson.loads(data)
        except (ValueError, TypeError):
            return
        if origin != self._origin and self.on_cooldown is not None:
            self.on_cooldown(str(deployment_id), float(seconds))
