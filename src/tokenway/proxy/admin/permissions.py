"""Who may call which management route: LiteLLM's roles as one table, checked once per
management request (never on a model request).

The master key is ``proxy_admin``. A virtual key acts with its user's ``user_role``; a key
without a user, or whose user has no role, may only read itself. A team admin is a team
member whose role is ``admin``: what they may do is decided against the team a request
names, so it is a scope, not a role.

| route | who, besides ``proxy_admin`` | scope |
|---|---|---|
| any ``GET`` of this API | ``proxy_admin_viewer`` | everything (reads only) |
| ``GET /key/info`` | any key | itself (the default), its user's keys, its team admin's |
| ``GET /user/info`` | any key with a user | that user (the default) |
| ``GET /team/info`` | any key | its own team, or a team its user is a member of |
| ``GET /key/list`` | internal users (and viewers), team admins | own keys; a team admin's team |
| ``POST /key/generate`` | internal users, team admins | for themselves; a team admin for the team |
| ``POST /key/update``, ``/key/regenerate`` | internal users, team admins | own keys; the team's |
| ``POST /key/delete`` | internal users, team admins | own keys; the team's |
| ``POST /team/member_add``, ``_delete``, ``_update`` | team admins | their team |
| ``POST /model/new``, ``/model/update``, ``/model/delete`` | team admins | their team's models |

Anything else is the master key's (or a ``proxy_admin`` user's). Nobody but an admin may
set ``spend`` or ``blocked``; an internal user may not change the limits of an existing
key (an admin may have set them; their own user's budget caps the keys they make).
A refusal is a 403 in the OpenAI envelope; a key that is unknown, expired or blocked was
already refused with a 401 (``check_usable``).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from tokenway.errors import AuthenticationError, PermissionDeniedError, ServiceUnavailableError
from tokenway.http.server import Request, Response
from tokenway.proxy.accounting.keys import KeyContext
from tokenway.proxy.admin.context import AdminContext
from tokenway.proxy.admin.validation import LIMIT_FIELDS, key_ref
from tokenway.proxy.pipeline.intake import parse_body
from tokenway.store.base import KeyRecord

PROXY_ADMIN = "proxy_admin"
PROXY_ADMIN_VIEWER = "proxy_admin_viewer"
INTERNAL_USER = "internal_user"
INTERNAL_USER_VIEWER = "internal_user_viewer"
TEAM_ADMIN = "admin"  # a member's role in a team
# The user LiteLLM's master key acts as (its ``litellm_proxy_admin_name``): the member
# that /team/new adds as the team's admin when the master key creates a team.
MASTER_USER_ID = "default_user_id"

_ADMIN_FIELDS = ("spend", "blocked")  # only an admin sets these, on any route
_OWNED_LIMITS = (*LIMIT_FIELDS, "duration")  # an internal user's existing key keeps these


@dataclass(frozen=True, slots=True)
class Caller:
    """Who calls a management route: a role and the key's own identity."""

    role: str | None
    key_hash: str | None = None
    user_id: str | None = None
    team_id: str | None = None

    @property
    def is_admin(self) -> bool:
        return self.role == PROXY_ADMIN

    @property
    def reads_all(self) -> bool:
        """An admin or an admin viewer: listings are not narrowed to its own records."""
        return self.role in (PROXY_ADMIN, PROXY_ADMIN_VIEWER)


MASTER = Caller(PROXY_ADMIN)


@dataclass(frozen=True, slots=True)
class AdminCall:
    """What a management handler is given: the request id and who is calling."""

    request_id: str
    caller: Caller


Route = Callable[[Request, AdminCall], Awaitable[Response]]


def caller_of(key: KeyContext | None) -> Caller:
    """The master key (no virtual key) or a virtual key acting with its user's role."""
    if key is None:
        return MASTER
    role = key.user.user_role if key.user is not None else None
    return Caller(role, key.key.key_hash, key.key.user_id, key.key.team_id)


def is_proxy_admin(key: KeyContext) -> bool:
    """A virtual key whose user is a ``proxy_admin``: it may call every management route."""
    return key.user is not None and key.user.user_role == PROXY_ADMIN


def check_usable(key: KeyContext) -> None:
    """A key calling the management API must be usable: 401 if expired or blocked (its
    own block, its team's), 503 if it could not be checked (admitted during an outage)."""
    if key.unrestricted:
        raise ServiceUnavailableError(
            "key store unavailable: this API key cannot be checked right now; retry shortly",
            code="key_store_unavailable",
        )
    expires_at = key.key.expires_at
    if expires_at is not None and expires_at <= time.time():
        raise AuthenticationError("API key expired; ask for a new key", code="key_expired")
    if key.key.blocked or (key.team is not None and key.team.blocked):
        raise AuthenticationError("API key is blocked", code="key_blocked")


Check = Callable[["Permissions", Caller, Request], Awaitable[None]]


class Permissions:
    """``check(route, caller, request)``: returns if ``caller`` may make this request,
    else raises the 403. Reads the records a scope needs; the handler validates the body."""

    def __init__(self, ctx: AdminContext) -> None:
        self._ctx = ctx

    def routes(self) -> frozenset[tuple[str, str]]:
        """The routes a non-admin key may try (any other is refused before its handler)."""
        return frozenset(RULES)

    async def check(self, route: tuple[str, str], caller: Caller, request: Request) -> None:
        if caller.is_admin:
            return
        if caller.role == PROXY_ADMIN_VIEWER and route[0] == "GET":
            return
        rule = RULES.get(route)
        if rule is None:
            raise master_only(route[1])
        await rule(self, caller, request)

    async def key_info(self, caller: Caller, request: Request) -> None:
        given = _query(request).get("key")
        target = key_ref("key", given) if given else caller.key_hash
        record = await self._ctx.store.get_key(target) if target else None
        if record is None or record.key_hash == caller.key_hash:
            return  # itself, or a key that does not exist (the handler's 404)
        same_user = caller.user_id is not None and record.user_id == caller.user_id
        if not same_user and not await self._team_admin(caller, record.team_id):
            raise _refused("this key may read only its own info (or its user's keys)")

    async def user_info(self, caller: Caller, request: Request) -> None:
        user_id = _query(request).get("user_id") or caller.user_id
        if user_id is None or user_id != caller.user_id:
            raise _refused("key not allowed to access this user's info")

    async def team_info(self, caller: Caller, request: Request) -> None:
        team_id = _query(request).get("team_id")
        if team_id is None or team_id == caller.team_id:
            return  # its own team (a missing team_id is the handler's 400)
        if await self._member_role(caller, team_id) is None:
            raise _refused("key not allowed to access this team's info")

    async def key_list(self, caller: Caller, request: Request) -> None:
        query = _query(request)
        if query.get("team_id") and await self._team_admin(caller, query["team_id"]):
            return
        if caller.role not in (INTERNAL_USER, INTERNAL_USER_VIEWER) or caller.user_id is None:
            raise _refused("this key may not list keys")
        if query.get("user_id") not in (None, caller.user_id) or query.get("team_id"):
            raise _refused("an internal user may list only their own keys")

    async def key_new(self, caller: Caller, request: Request) -> None:
        body = _body(request)
        _no_admin_fields(body)
        user_id, team_id = body.get("user_id") or caller.user_id, body.get("team_id")
        if team_id is not None and await self._team_admin(caller, team_id):
            if user_id is not None and await self._member_role(caller, team_id, user_id) is None:
                raise _refused(f"user '{user_id}' is not a member of team '{team_id}'")
            return
        if caller.role != INTERNAL_USER or caller.user_id is None:
            raise _refused("this key may not create keys")
        if user_id != caller.user_id:
            raise _refused("an internal user may create keys only for themselves")
        if team_id is not None and await self._member_role(caller, team_id) is None:
            raise _refused(f"not a member of team '{team_id}'")

    async def key_change(self, caller: Caller, request: Request) -> None:
        body = _body(request)
        _no_admin_fields(body)
        record = await self._key(body.get("key"))
        if record is None:
            return  # the handler's 404
        team_admin = await self._writable(caller, record)
        if body.get("user_id", record.user_id) != record.user_id:
            new_owner = body["user_id"]
            if not team_admin or await self._member_role(caller, record.team_id, new_owner) is None:
                raise _refused("this key may not give a key to another user")
        moved = body.get("team_id", record.team_id) != record.team_id
        if moved and not await self._team_admin(caller, body["team_id"]):
            raise _refused("this key may not move a key to that team")
        if not team_admin and any(name in body for name in _OWNED_LIMITS):
            raise _refused("an internal user may not change the limits of an existing key")

    async def key_delete(self, caller: Caller, request: Request) -> None:
        body = _body(request)
        records: list[KeyRecord] = []
        if isinstance(body.get("keys"), list):
            found = [await self._key(ref) for ref in body["keys"]]
            records = [record for record in found if record is not None]
        if isinstance(body.get("key_aliases"), list):
            aliases = set(body["key_aliases"])
            records += [k for k in await self._ctx.all_keys() if k.key_alias in aliases]
        for record in records:
            await self._writable(caller, record)

    async def team_admin(self, caller: Caller, request: Request) -> None:
        team_id = _body(request).get("team_id")
        if not isinstance(team_id, str) or not await self._team_admin(caller, team_id):
            raise _refused("only an admin of this team may change its members")

    async def team_model(self, caller: Caller, request: Request) -> None:
        """A model with ``model_info.team_id`` (the one given, and the stored one's for an
        update or delete): only an admin of that team; any other model is the master's."""
        body = _body(request)
        info = body.get("model_info")
        info = info if isinstance(info, dict) else {}
        teams: set[object] = {info["team_id"]} if "team_id" in info else set()
        if request.path != "/model/new":
            model_id = body.get("id") if request.path == "/model/delete" else info.get("id")
            ok = isinstance(model_id, str) and model_id
            stored = await self._ctx.store.get_model(str(model_id)) if ok else None
            teams.add(stored.model_info.get("team_id") if stored is not None else None)
        if not teams or not all(isinstance(team, str) and team for team in teams):
            raise master_only(request.path)
        for team in teams:
            if not await self._team_admin(caller, str(team)):
                raise _refused(f"only an admin of team '{team}' may change its models")

    async def _writable(self, caller: Caller, record: KeyRecord) -> bool:
        """Whether ``caller`` may change ``record`` as its team's admin (True) or as its
        owner, an internal user (False); else the 403."""
        if await self._team_admin(caller, record.team_id):
            return True
        owner = caller.user_id is not None and record.user_id == caller.user_id
        if caller.role == INTERNAL_USER and owner:
            return False
        raise _refused("this key may change only its own user's keys")

    async def _key(self, ref: Any) -> KeyRecord | None:
        if not isinstance(ref, str) or not ref:
            return None  # the handler's 400
        return await self._ctx.store.get_key(key_ref("key", ref))

    async def _team_admin(self, caller: Caller, team_id: str | None) -> bool:
        return await self._member_role(caller, team_id) == TEAM_ADMIN

    async def _member_role(
        self, caller: Caller, team_id: str | None, user_id: str | None = None
    ) -> str | None:
        """The role of ``user_id`` (default: the caller's user) in ``team_id``, or None."""
        who = user_id or caller.user_id
        if who is None or not isinstance(team_id, str):
            return None
        team = await self._ctx.store.get_team(team_id)
        if team is None:
            return None
        roles = [m.get("role") for m in team.members_with_roles if m.get("user_id") == who]
        return str(roles[0]) if roles else None


RULES: Mapping[tuple[str, str], Check] = {
    ("GET", "/key/info"): Permissions.key_info,
    ("GET", "/user/info"): Permissions.user_info,
    ("GET", "/team/info"): Permissions.team_info,
    ("GET", "/key/list"): Permissions.key_list,
    ("POST", "/key/generate"): Permissions.key_new,
    ("POST", "/key/update"): Permissions.key_change,
    ("POST", "/key/regenerate"): Permissions.key_change,
    ("POST", "/key/delete"): Permissions.key_delete,
    ("POST", "/team/member_add"): Permissions.team_admin,
    ("POST", "/team/member_delete"): Permissions.team_admin,
    ("POST", "/team/member_update"): Permissions.team_admin,
    ("POST", "/model/new"): Permissions.team_model,
    ("POST", "/model/update"): Permissions.team_model,
    ("POST", "/model/delete"): Permissions.team_model,
}


def master_only(path: str) -> PermissionDeniedError:
    return PermissionDeniedError(
        f"{path} needs the master key (or a proxy_admin user's key)", code="master_key_required"
    )


def _refused(message: str) -> PermissionDeniedError:
    return PermissionDeniedError(message, code="not_allowed")


def _no_admin_fields(body: Mapping[str, Any]) -> None:
    named = [name for name in _ADMIN_FIELDS if name in body]
    if named:
        raise _refused(f"only an admin may set {', '.join(named)}")


def _query(request: Request) -> dict[str, str]:
    return dict(parse_qsl(request.query, keep_blank_values=True))


def _body(request: Request) -> dict[str, Any]:
    return parse_body(request.body)
