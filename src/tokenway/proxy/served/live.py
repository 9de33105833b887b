"""The models served now: the config file's, and those stored through ``/model/new``.

Every process reads ``proxy_models`` when it starts and then every ``POLL_INTERVAL``
seconds; the process that handles a change reads it at once, so its own answer is
already true. Why a poll rather than a change event: the store is where the models
live, so a poll cannot miss a change (a pub/sub message is lost while Redis is away,
and not every deployment has Redis), and it costs one small query per process every
few seconds. Only a change (an id added, removed, or updated since the last read)
rebuilds the routes; the request path never waits on any of it.

A stored model that cannot be served (its key sealed with another secret, a provider
no longer supported) is left out with one error line, and the others are served.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Mapping, Sequence

from tokenway.errors import BadRequestError
from tokenway.proxy.config import DeploymentConfig
from tokenway.proxy.served.records import deployment_of
from tokenway.proxy.served.secrets import SecretBox
from tokenway.store.base import Store, StoreError
from tokenway.store.models import ModelRecord

log = logging.getLogger("tokenway.proxy.served")

POLL_INTERVAL = 5.0  # seconds between two reads of the stored models, per process

Apply = Callable[[Sequence[DeploymentConfig]], None]


class LiveModels:
    """Merges the stored models into the config's and hands the whole list to ``apply``
    whenever it changes. ``is_open``: whether the store can be asked yet."""

    def __init__(
        self,
        config: Sequence[DeploymentConfig],
        store: Store,
        box: SecretBox,
        env: Mapping[str, str],
        apply: Apply,
        *,
        is_open: Callable[[], bool] = lambda: True,
        interval: float = POLL_INTERVAL,
    ) -> None:
        self.config = tuple(config)
        self.config_ids = frozenset(str(d.model_info["id"]) for d in config)
        self.box = box
        self.env = env
        self.store = store
        self._apply = apply
        self._is_open = is_open
        self._interval = interval
        self._seen: dict[str, float] = {}  # model id -> updated_at, of the last read
        self._reported: set[tuple[str, float]] = set()  # rows already logged as unservable
        self._task: asyncio.Task[None] | None = None
        self._reading = asyncio.Lock()

    async def refresh(self) -> bool:
        """Read the stored models; apply them if anything changed. True if it did.

        One read at a time: a poll's read begun before a change must not be applied
        after the read the change made (it would undo it until the next poll)."""
        async with self._reading:
            rows = await self.store.list_models()
            seen = {row.model_id: row.updated_at for row in rows}
            if seen == self._seen:
                return False
            served = [d for row in rows if (d := self._servable(row)) is not None]
            self._apply([*self.config, *served])
            self._seen = seen
            return True

    async def start(self) -> None:
        """Serve the stored models before the proxy says it is ready (when the store is
        open; otherwise the poll picks them up once it is), then poll."""
        if self._task is not None:
            return
        await self._read()
        loop = asyncio.get_running_loop()
        self._task = loop.create_task(self._poll(), name="tokenway-model-poll")

    async def aclose(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _poll(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            await self._read()

    async def _read(self) -> None:
        if self._is_open():
            try:
                await self.refresh()
            except StoreError as error:  # readiness reports outages; keep serving
                log.debug("stored models not read: %s", error)

    def _servable(self, row: ModelRecord) -> DeploymentConfig | None:
        problem = None
        if row.model_id in self.config_ids:
            problem = "its id is a deployment id of the config file"
        else:
            try:
                return deployment_of(row, self.box, self.env)[0]
            except BadRequestError as error:
                problem = error.message
        mark = (row.model_id, row.updated_at)
        if mark not in self._reported:
            self._reported.add(mark)
            log.error(
                "stored model '%s' (id %s) is not served: %s", row.model_name, row.model_id, problem
            )
        return None
