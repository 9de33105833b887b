"""``AdminAPI``: the management endpoints as a (method, path) → handler table.

The app merges ``routes()`` into its own table. It calls these handlers for the master
key, a ``proxy_admin`` user's key, and, on the routes ``self_service()`` names, any other
usable virtual key; each handler first asks ``Permissions`` whether this caller may make
this request (``proxy/admin/permissions.py``, the one table of who may do what). Handlers
take the app's per-request context (a ``request_id`` and the calling virtual key, if any)
and always answer, with every failure in the OpenAI error envelope.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace

from tokenway.http.server import Request, Response
from tokenway.proxy.admin.budgets import BudgetRoutes
from tokenway.proxy.admin.context import AdminContext
from tokenway.proxy.admin.end_users import EndUserRoutes
from tokenway.proxy.admin.keys import KeyRoutes
from tokenway.proxy.admin.members import MemberRoutes
from tokenway.proxy.admin.organizations import OrganizationRoutes
from tokenway.proxy.admin.permissions import AdminCall, Permissions, Route, caller_of
from tokenway.proxy.admin.responses import Call, Handler, guarded
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
    drops that key at once. ``admins_join_teams``: a team the master key or a
    ``proxy_admin`` creates gets its creator as admin (LiteLLM's default).
    ``on_end_user_change(user_id)``: an end user changed (None: any, such as those
    sharing a changed budget), for the request path's end-user cache.
    """

    def __init__(
        self,
        store: Store,
        *,
        served_models: Sequence[str],
        on_key_change: Callable[[str], None],
        clock: Callable[[], float] = time.time,
        access_groups: Mapping[str, frozenset[str]] | None = None,
        admins_join_teams: bool = True,
        on_end_user_change: Callable[[str | None], None] | None = None,
    ) -> None:
        # Both kept by reference: the app updates them in place when the served models
        # change (models added through /model/new).
        groups = access_groups if access_groups is not None else {}
        self._ctx = AdminContext(
            store, served_models, on_key_change, clock, groups, admins_join_teams
        )
        if on_end_user_change is not None:
            self._ctx = replace(self._ctx, on_end_user_change=on_end_user_change)
        self._permissions = Permissions(self._ctx)

    def self_service(self) -> frozenset[tuple[str, str]]:
        """The routes any usable virtual key may try (its scope is checked per request);
        every other route of ``routes()`` is for admins, and read-only admin viewers."""
        return self._permissions.routes() | {r for r in self._all() if r[0] == "GET"}

    def routes(self) -> dict[tuple[str, str], Handler]:
        return {route: guarded(self._permitted(route, h)) for route, h in self._all().items()}

    def _all(self) -> dict[tuple[str, str], Route]:
        table: dict[tuple[str, str], Route] = {}
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
            table.update(group.routes())
        return table

    def _permitted(self, route: tuple[str, str], handler: Route) -> Handler:
        """``handler`` behind the permission check of ``route``, run once per request."""
        check = self._permissions.check

        async def run(request: Request, call: Call) -> Response:
            caller = caller_of(call.key)
            await check(route, caller, request)
            return await handler(request, AdminCall(call.request_id, caller))

        return run
