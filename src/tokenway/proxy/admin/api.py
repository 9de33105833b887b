"""``AdminAPI``: the management endpoints as a (method, path) → handler table.

The app merges ``routes()`` into its own table and only calls these handlers for a
caller holding the master key: nothing here checks who is calling. Handlers take the
app's per-request context (anything with a ``request_id``) and always answer, with every
failure in the OpenAI error envelope.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace

from tokenway.proxy.admin.budgets import BudgetRoutes
from tokenway.proxy.admin.context import AdminContext
from tokenway.proxy.admin.end_users import EndUserRoutes
from tokenway.proxy.admin.keys import KeyRoutes
from tokenway.proxy.admin.members import MemberRoutes
from tokenway.proxy.admin.organizations import OrganizationRoutes
from tokenway.proxy.admin.responses import Handler, guarded
from tokenway.proxy.admin.spend import SpendRoutes
from tokenway.proxy.admin.teams import TeamRoutes
from tokenway.proxy.admin.users import UserRoutes
from tokenway.store.base import Store


class AdminAPI:
    """Keys, users, teams and spend over ``store``.

    ``served_models``: the aliases a key, user or team may be limited to (a ``models``
    list naming anything else is stored, with a warning in the answer).
    ``access_groups``: LiteLLM's access group names and the aliases each one allows.
    ``on_key_change(key_hash)``: called after any change to a stored key (update, delete,
    block, unblock, regenerate, or a change to its user or team) so the auth cache
    drops that key at once. ``on_end_user_change(user_id)``: an end user changed (None:
    any, such as those sharing a changed budget), for the request path's end-user cache.
    """

    def __init__(
        self,
        store: Store,
        *,
        served_models: Sequence[str],
        on_key_change: Callable[[str], None],
        clock: Callable[[], float] = time.time,
        access_groups: Mapping[str, frozenset[str]] | None = None,
        on_end_user_change: Callable[[str | None], None] | None = None,
    ) -> None:
        self._ctx = AdminContext(
            store, tuple(served_models), on_key_change, clock, dict(access_groups or {})
        )
        if on_end_user_change is not None:
            self._ctx = replace(self._ctx, on_end_user_change=on_end_user_change)

    def routes(self) -> dict[tuple[str, str], Handler]:
        table: dict[tuple[str, str], Handler] = {}
        for group in (
            KeyRoutes(self._ctx),
            UserRoutes(self._ctx),
            TeamRoutes(self._ctx),
            MemberRoutes(self._ctx),
            SpendRoutes(self._ctx),
            BudgetRoutes(self._ctx),
            OrganizationRoutes(self._ctx),
            EndUserRoutes(self._ctx),
        ):
            table.update({route: guarded(handler) for route, handler in group.routes().items()})
        return table
