"""Writing management responses: records as LiteLLM-shaped JSON, errors as the OpenAI
envelope. No function here ever sees a key's secret, so none can leak it."""

from __future__ import annotations

import functools
import logging
import math
import re
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, Protocol

import orjson

from tokenway.errors import BadRequestError, ServiceUnavailableError, TokenwayError
from tokenway.http.server import Request, Response
from tokenway.proxy.accounting.keys import KeyContext
from tokenway.proxy.errors import JSON_HEADERS, error_response
from tokenway.store.base import (
    ConflictError,
    KeyRecord,
    Limits,
    SpendRow,
    StoreError,
    TeamRecord,
    UserRecord,
)

log = logging.getLogger("tokenway.proxy.admin")

# Credentials a driver may put in an error message: URL passwords and API keys.
_URL_PASSWORD = re.compile(r"(\w[\w+.-]*://[^:/@\s]*:)[^@\s]*@")
_SECRET = re.compile(r"\bsk-[\w-]+")


class Identified(Protocol):
    @property
    def request_id(self) -> str: ...


class Call(Protocol):
    """What the management API needs from the app's per-request context
    (``CallContext``): the request id, and the virtual key calling (None: the master key)."""

    @property
    def request_id(self) -> str: ...

    @property
    def key(self) -> KeyContext | None: ...


Handler = Callable[[Request, Call], Awaitable[Response]]


def guarded(handler: Handler) -> Handler:
    """Every failure of ``handler`` as the OpenAI envelope: validation errors as they
    are, a duplicate as 409, an unreachable store as 503 with a scrubbed message."""

    @functools.wraps(handler)
    async def run(request: Request, call: Call) -> Response:
        try:
            return await handler(request, call)
        except TokenwayError as error:
            return error_response(error, call.request_id)
        except ConflictError as exc:
            conflict = BadRequestError(
                scrub(str(exc)),
                status_code=409,
                param=exc.what,
                code="conflict",
            )
            return error_response(conflict, call.request_id)
        except StoreError as exc:
            message = scrub(str(exc))
            log.warning("store error on %s %s: %s", request.method, request.path, message)
            down = ServiceUnavailableError(
                f"the key and spend store is unavailable ({message}); retry shortly",
                code="store_unavailable",
            )
            return error_response(down, call.request_id)

    return run


def json_response(data: Any, call: Identified) -> Response:
    headers = [*JSON_HEADERS, ("x-request-id", call.request_id)]
    return Response(200, headers, orjson.dumps(data))


def scrub(message: str) -> str:
    return _SECRET.sub("sk-***", _URL_PASSWORD.sub(r"\1***@", message))


_EARLIEST = datetime.min.replace(tzinfo=UTC).isoformat()
_LATEST = datetime.max.replace(tzinfo=UTC).isoformat()


def iso(moment: float | None) -> str | None:
    if moment is None:
        return None
    try:
        return datetime.fromtimestamp(moment, UTC).isoformat()
    except (OverflowError, OSError, ValueError):
        # A time past datetime's range, stored before durations were bounded (an expiry
        # "99999999999d" away): shown as the range's end, so the record can still be read.
        if math.isnan(moment):
            return None
        return _LATEST if moment > 0 else _EARLIEST


def limits_json(limits: Limits) -> dict[str, Any]:
    return {
        "spend": limits.spend,
        "max_budget": limits.max_budget,
        "budget_duration": limits.budget_duration,
        "budget_reset_at": iso(limits.budget_reset_at),
        "rpm_limit": limits.rpm_limit,
        "tpm_limit": limits.tpm_limit,
        "max_parallel_requests": limits.max_parallel_requests,
    }


def key_json(key: KeyRecord) -> dict[str, Any]:
    """A key's settings and spend; ``token`` is its hash (LiteLLM's name for it)."""
    return {
        **key.extra,
        "token": key.key_hash,
        "token_id": key.key_hash,  # LiteLLM's name for the hash in /key/generate
        "key_name": key.key_name,
        "key_alias": key.key_alias,
        "user_id": key.user_id,
        "team_id": key.team_id,
        "models": key.models,
        **limits_json(key.limits),
        "expires": iso(key.expires_at),
        "blocked": key.blocked,
        "metadata": key.metadata,
        "created_at": iso(key.created_at),
        "updated_at": iso(key.updated_at),
    }


def user_json(user: UserRecord) -> dict[str, Any]:
    return {
        **user.extra,
        "user_id": user.user_id,
        "user_email": user.user_email,
        "user_role": user.user_role,
        "team_id": user.team_id,
        "models": user.models,
        **limits_json(user.limits),
        "metadata": user.metadata,
        "created_at": iso(user.created_at),
        "updated_at": iso(user.updated_at),
    }


def team_json(team: TeamRecord) -> dict[str, Any]:
    return {
        **team.extra,
        "team_id": team.team_id,
        "team_alias": team.team_alias,
        "models": team.models,
        **limits_json(team.limits),
        "blocked": team.blocked,
        "members_with_roles": team.members_with_roles,
        "organization_id": team.organization_id,
        "metadata": team.metadata,
        "created_at": iso(team.created_at),
        "updated_at": iso(team.updated_at),
    }


def spend_json(row: SpendRow) -> dict[str, Any]:
    """A spend row under LiteLLM's SpendLogs names (``api_key`` is the key's hash)."""
    failed = row.status >= 400 or row.error_code is not None
    return {
        "request_id": row.request_id,
        "api_key": row.key_hash,
        "user": row.user_id,
        "team_id": row.team_id,
        "model": row.model_alias,
        "model_group": row.model_alias,
        "model_id": row.deployment,
        "prompt_tokens": row.prompt_tokens,
        "completion_tokens": row.completion_tokens,
        "total_tokens": row.prompt_tokens + row.completion_tokens,
        "spend": row.cost,
        "startTime": iso(row.started_at),
        "endTime": iso(row.started_at + row.latency_ms / 1000),
        "latency_ms": row.latency_ms,
        "status": "failure" if failed else "success",
        "http_status": row.status,
        "error_code": row.error_code,
        "stream": row.stream,
        "usage_estimated": row.usage_estimated,
        "end_user": row.end_user,
        "organization_id": row.organization_id,
        "response_id": row.response_id,
        "metadata": _row_metadata(row),
        **({"payload": row.payload} if row.payload is not None else {}),
    }


def _row_metadata(row: SpendRow) -> dict[str, Any]:
    """The request's own ``metadata`` with LiteLLM's ``user_api_key_*`` fields beside it."""
    given = orjson.loads(row.metadata) if row.metadata else {}
    return {
        **(given if isinstance(given, dict) else {}),
        "user_api_key": row.key_hash,
        "user_api_key_user_id": row.user_id,
        "user_api_key_team_id": row.team_id,
        "user_api_key_org_id": row.organization_id,
        "user_api_key_end_user_id": row.end_user,
    }
