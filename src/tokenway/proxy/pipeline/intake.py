"""The pipeline's first step, and the check at each attempt: is this body acceptable?

``parse_body`` reads the JSON (bounded nesting); ``refuse_forbidden`` stops a client
that tries to redirect the proxy or swap its credentials. ``fit_params`` runs per
attempt, because what a deployment takes depends on the deployment: a body field it
does not take is dropped (its ``additional_drop_params``, or any with ``drop_params``)
or refused with a 400 naming it, as the SDK does.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import orjson

from tokenway.errors import BadRequestError
from tokenway.proxy.json_depth import MAX_DEPTH, too_deep
from tokenway.proxy.models import Route

# Fields a client could use to redirect the proxy or swap its credentials.
FORBIDDEN_FIELDS = (
    "api_base", "base_url", "api_key", "api_version", "organization", "extra_headers",
    "litellm_params", "custom_llm_provider",
)  # fmt: skip


def parse_body(raw: bytes) -> dict[str, Any]:
    if not raw:
        raise BadRequestError("request body is empty; send a JSON object", code="invalid_json")
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise BadRequestError(
            f"request body is not valid JSON: {exc}", code="invalid_json"
        ) from None
    if not isinstance(body, dict):
        raise BadRequestError("request body must be a JSON object", code="invalid_json")
    # Fewer brackets than MAX_DEPTH cannot nest deeper: two C counts decide most bodies.
    if raw.count(b"{") + raw.count(b"[") > MAX_DEPTH and too_deep(body):
        raise BadRequestError(
            f"request body nests more than {MAX_DEPTH} levels deep", code="invalid_json"
        )
    return body


def refuse_forbidden(body: Mapping[str, Any]) -> None:
    for name in FORBIDDEN_FIELDS:
        if name in body:
            raise BadRequestError(
                f"'{name}' cannot be set by clients of this proxy",
                param=name,
                code="forbidden_field",
            )


def fit_params(body: dict[str, Any], route: Route, accepts: frozenset[str]) -> dict[str, Any]:
    """``body`` without the fields ``route`` does not take (a copy), or a 400 naming them.
    Called only when some field is not in ``accepts``."""
    unknown = sorted(name for name in body if name not in accepts)
    refused = [name for name in unknown if name not in route.drops]
    if refused and not route.drop_params:
        listed = ", ".join(refused)
        raise BadRequestError(
            f"model '{route.alias}' (provider '{route.provider.spec.name}') does not take: "
            f"{listed}. Remove it, or set drop_params: true in the proxy's config "
            "(litellm_settings, or this model's litellm_params) to drop it.",
            param=refused[0],
            code="unsupported_parameter",
        )
    return {name: value for name, value in body.items() if name in accepts}


TIMEOUT_HEADER = "x-litellm-timeout"
_MAX_TIMEOUT = 86_400.0  # a day: longer is a mistake, not a deadline


def request_timeout(value: str | None) -> float | None:
    """LiteLLM's ``x-litellm-timeout`` request header: seconds for the whole call (retries
    and fallbacks included), replacing the deployment's; ``None`` when absent. Anything
    but a number of seconds above 0 and up to a day is a 400 naming the header."""
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        seconds = math.nan
    if not 0 < seconds <= _MAX_TIMEOUT:  # NaN fails too
        raise BadRequestError(
            f"the {TIMEOUT_HEADER} header must be a number of seconds above 0, at most "
            f"{_MAX_TIMEOUT:.0f}",
            param=TIMEOUT_HEADER,
            code="invalid_value",
        )
    return seconds


MAX_RETRIES_HEADER = "x-litellm-max-retries"
_MAX_RETRIES = 100


def request_retries(value: object) -> int | None:
    """LiteLLM's ``num_retries`` request field: retries for this call, replacing the
    router's (never sent upstream); ``None`` when absent. A whole number from 0 to 100."""
    if value is None:
        return None
    if type(value) is not int or not 0 <= value <= _MAX_RETRIES:
        raise BadRequestError(
            f"'num_retries' must be a whole number from 0 to {_MAX_RETRIES}",
            param="num_retries",
            code="invalid_value",
        )
    return value
