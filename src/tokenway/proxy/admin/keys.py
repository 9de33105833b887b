"""``/key/*``: virtual keys, LiteLLM-shaped.

A key's secret is made here, returned once by ``/key/generate`` (and ``/key/regenerate``)
and stored only as its SHA-256 hash; every other answer names the key by that hash
(``token``). Requests may name a key by its secret or its hash.

A ``team_id`` must name an existing team (400 otherwise: a typo would drop the team's
caps); a ``user_id`` that does not exist yet is created on the fly, as LiteLLM does.
Limits above the key's team's are accepted: the team's budget and limits still cap the
key when requests are enforced, so raising a team's limits later needs no key edits.
"""

from __future__ import annotations

import contextlib
import math
import secrets
from collections.abc import AsyncIterator
from typing import Any

from tokenway.errors import BadRequestError, NotFoundError
from tokenway.http.server import Request, Response
from tokenway.proxy.admin.context import AdminContext, split_limits, store_changes
from tokenway.proxy.admin.litellm_fields import KEY_NEW, KEY_UPDATE, merge_extra
from tokenway.proxy.admin.permissions import AdminCall, Caller, Route
from tokenway.proxy.admin.responses import json_response, key_json
from tokenway.proxy.admin.validation import (
    FIELD_SCHEMAS,
    PAGE_FIELDS,
    Validator,
    count,
    duration,
    flag,
    key_ref,
    key_refs,
    metadata,
    model_aliases,
    money,
    page_of,
    read_body,
    read_query,
    small_count,
    spend,
    text,
    text_list,
)
from tokenway.proxy.auth import hash_key
from tokenway.store.base import KeyRecord
from tokenway.store.durations import parse_duration

_SECRET_BYTES = 32  # 256 bits of entropy


def key_fields(served: list[str]) -> dict[str, Validator]:
    """The settings a key accepts, on ``/key/generate`` and ``/key/update``."""
    return {
        "key_alias": text,
        "models": model_aliases(served),
        "max_budget": money,
        "spend": spend,
        "budget_duration": duration,
        "rpm_limit": small_count,  # PostgreSQL INTEGER columns
        "tpm_limit": count,
        "max_parallel_requests": small_count,
        "duration": duration,
        "metadata": metadata,
        "user_id": text,
        "team_id": text,
        "blocked": flag,
    }


class KeyRoutes:
    def __init__(self, ctx: AdminContext) -> None:
        self._ctx = ctx
        self._fields = key_fields(list(ctx.served_models))
        self._update_fields = {"key": key_ref, **self._fields}

    def routes(self) -> dict[tuple[str, str], Route]:
        return {
            ("POST", "/key/generate"): self.generate,
            ("GET", "/key/info"): self.info,
            ("GET", "/key/list"): self.listing,
            ("POST", "/key/update"): self.update,
            ("POST", "/key/delete"): self.delete,
            ("POST", "/key/regenerate"): self.regenerate,
            ("POST", "/key/block"): self.block,
            ("POST", "/key/unblock"): self.unblock,
        }

    async def generate(self, request: Request, call: AdminCall) -> Response:
        values = read_body(request.body, {**self._fields, "key": chosen_secret}, kept=KEY_NEW)
        if not call.caller.is_admin and values.get("user_id") is None:
            values["user_id"] = call.caller.user_id  # a user's key makes keys of that user
        secret, record = await create_key(self._ctx, values)
        warnings = self._ctx.model_warnings(values.get("models"))
        return json_response({"key": secret, **key_json(record), **warnings}, call)

    async def info(self, request: Request, call: AdminCall) -> Response:
        caller = call.caller
        given = read_query(request.query, {"key": key_ref}, required=_own(caller, "key"))
        key_hash = given.get("key") or caller.key_hash  # no key: the calling key itself
        record = await self._ctx.store.get_key(key_hash) if key_hash else None
        if record is None:
            raise _not_found()
        return json_response({"key": key_hash, "info": key_json(record)}, call)

    async def listing(self, request: Request, call: AdminCall) -> Response:
        spec = {
            "user_id": text,
            "team_id": text,
            "key_alias": text,
            "return_full_object": flag,
            **PAGE_FIELDS,
        }
        query = read_query(request.query, spec)
        if not call.caller.reads_all and not query.get("team_id"):
            query["user_id"] = call.caller.user_id  # a user lists their own keys
        page = page_of(query, default_size=10, max_size=1000)
        keys = await self._ctx.all_keys(user_id=query.get("user_id"), team_id=query.get("team_id"))
        if query.get("key_alias"):
            keys = [key for key in keys if key.key_alias == query["key_alias"]]
        shown = keys[page.offset : page.offset + page.size]
        full = query.get("return_full_object", False)
        return json_response(
            {
                "keys": [key_json(key) if full else key.key_hash for key in shown],
                "total_count": len(keys),
                "current_page": page.number,
                "total_pages": math.ceil(len(keys) / page.size),
            },
            call,
        )

    async def update(self, request: Request, call: AdminCall) -> Response:
        values = read_body(request.body, self._update_fields, required=("key",), kept=KEY_UPDATE)
        key_hash = values.pop("key")
        async with _owners(self._ctx, values):
            record = await self._apply(key_hash, _key_changes(values, self._ctx.now()))
        warnings = self._ctx.model_warnings(values.get("models"))
        return json_response({**key_json(record), **warnings}, call)

    async def delete(self, request: Request, call: AdminCall) -> Response:
        spec = {"keys": key_refs, "key_aliases": text_list}
        values = read_body(request.body, spec)
        if len(values) != 1:
            raise BadRequestError(
                "send exactly one of 'keys' (secrets or hashes) or 'key_aliases'",
                param="keys",
                code="missing_field",
            )
        if "keys" in values:
            hashes = await self._existing(values["keys"])
        else:
            hashes = await self._by_aliases(values["key_aliases"])
        await self._ctx.store.delete_keys(hashes)
        self._ctx.keys_changed(hashes)
        return json_response({"deleted_keys": hashes}, call)

    async def regenerate(self, request: Request, call: AdminCall) -> Response:
        old_hash = read_body(request.body, {"key": key_ref}, required=("key",))["key"]
        secret = new_secret()
        record = await self._ctx.store.rehash_key(old_hash, hash_key(secret), display_name(secret))
        if record is None:
            raise _not_found()
        self._ctx.keys_changed([old_hash])
        return json_response({"key": secret, **key_json(record)}, call)

    async def block(self, request: Request, call: AdminCall) -> Response:
        return await self._set_blocked(request, call, True)

    async def unblock(self, request: Request, call: AdminCall) -> Response:
        return await self._set_blocked(request, call, False)

    async def _set_blocked(self, request: Request, call: AdminCall, blocked: bool) -> Response:
        key_hash = read_body(request.body, {"key": key_ref}, required=("key",))["key"]
        record = await self._apply(key_hash, {"blocked": blocked})
        return json_response(key_json(record), call)

    async def _apply(self, key_hash: str, changes: dict[str, Any]) -> KeyRecord:
        """Store ``changes`` (none: just read the key) and drop the key from the auth cache."""
        store = self._ctx.store
        changes = await merge_extra(changes, lambda: store.get_key(key_hash))
        record = await (store.update_key(key_hash, changes) if changes else store.get_key(key_hash))
        if record is None:
            raise _not_found()
        self._ctx.keys_changed([key_hash])
        return record

    async def _existing(self, hashes: list[str]) -> list[str]:
        """The hashes, once each, if every one is a stored key (else 404, nothing deleted)."""
        unique = list(dict.fromkeys(hashes))
        missing = [h for h in unique if await self._ctx.store.get_key(h) is None]
        if missing:
            raise NotFoundError(
                f"no key has these hashes (nothing was deleted): {', '.join(missing)}",
                param="keys",
                code="key_not_found",
            )
        return unique

    async def _by_aliases(self, aliases: list[str]) -> list[str]:
        keys = await self._ctx.all_keys()
        hashes = [key.key_hash for key in keys if key.key_alias in aliases]
        missing = sorted(set(aliases) - {key.key_alias for key in keys})
        if missing:
            raise NotFoundError(
                f"no key has these aliases (nothing was deleted): {', '.join(missing)}",
                param="key_aliases",
                code="key_not_found",
            )
        return hashes


async def create_key(ctx: AdminContext, values: dict[str, Any]) -> tuple[str, KeyRecord]:
    """Store a new key with validated ``values``; return its secret (shown once) and record."""
    async with _owners(ctx, values):
        return await _store_key(ctx, values)


async def _store_key(ctx: AdminContext, values: dict[str, Any]) -> tuple[str, KeyRecord]:
    secret = values.pop("key", None) or new_secret()
    now = ctx.now()
    fields, limits = split_limits(_key_changes(values, now))
    record = KeyRecord(
        key_hash=hash_key(secret),
        key_name=display_name(secret),
        limits=limits,
        created_at=now,
        updated_at=now,
        **fields,
    )
    await ctx.store.create_key(record)
    return secret, record


_MIN_CHOSEN = 16


def chosen_secret(name: str, value: Any) -> str | None:
    """A secret the caller chose for a new key (LiteLLM's ``key``): ``sk-`` and at least
    16 characters in all, stored hashed like a made one."""
    if value is None:
        return None
    if not isinstance(value, str) or not value.startswith("sk-") or len(value) < _MIN_CHOSEN:
        raise BadRequestError(
            f"'{name}' must be a secret starting with 'sk-', at least {_MIN_CHOSEN} characters",
            param=name,
            code="invalid_value",
        )
    return value


FIELD_SCHEMAS[chosen_secret] = {
    "type": ["string", "null"],
    "pattern": "^sk-",
    "minLength": _MIN_CHOSEN,
}


def new_secret() -> str:
    return "sk-" + secrets.token_urlsafe(_SECRET_BYTES)


def display_name(secret: str) -> str:
    """Enough to recognise a key in a list, never enough to use it."""
    return f"sk-...{secret[-4:]}"


@contextlib.asynccontextmanager
async def _owners(ctx: AdminContext, values: dict[str, Any]) -> AsyncIterator[None]:
    """The key's team must exist; its user is created if need be, and removed again if
    what follows fails (a duplicate key_alias, an unknown key), so a refused request
    leaves nothing behind."""
    await ctx.require_team(values.get("team_id"))
    new_user = await ctx.ensure_user(values.get("user_id"))
    try:
        yield
    except BaseException:
        if new_user:
            await ctx.store.delete_users([values["user_id"]])
        raise


def _key_changes(values: dict[str, Any], now: float) -> dict[str, Any]:
    """``duration`` becomes ``expires_at`` counted from now (null: never expires)."""
    changes = store_changes(values, now)
    if "duration" in changes:
        period = changes.pop("duration")
        changes["expires_at"] = None if period is None else now + parse_duration(period)
    return changes


def _own(caller: Caller, name: str) -> tuple[str, ...]:
    """``(name,)`` for an admin, who must name what to read; nothing for a virtual key,
    which reads itself when it names nothing."""
    return (name,) if caller.key_hash is None else ()


def _not_found() -> NotFoundError:
    return NotFoundError(
        "no key has this secret or hash; list keys with GET /key/list",
        param="key",
        code="key_not_found",
    )
