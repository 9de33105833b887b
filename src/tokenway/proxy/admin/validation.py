"""Reading management requests: JSON bodies and query strings, checked field by field.

Every field of every endpoint goes through a validator from this module, so a wrong
type, a negative limit or a bad duration is a 400 that names the field (``param``), and
a field the endpoint does not know is a 400 that names it, instead of being ignored.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, TypeGuard
from urllib.parse import parse_qsl

from tokenway.errors import BadRequestError
from tokenway.proxy.auth import hash_key
from tokenway.proxy.pipeline.intake import parse_body
from tokenway.store.durations import parse_duration

Validator = Callable[[str, Any], Any]

FIELD_SCHEMAS: dict[Validator, dict[str, Any]] = {}
"""The JSON Schema of what each validator accepts, for ``/openapi.json``: kept beside the
checks it describes. Where a check cannot be written as a schema (a duration's upper
bound), the schema describes a part of what is accepted, never more."""

LIMIT_FIELDS = (
    "max_budget",
    "budget_duration",
    "rpm_limit",
    "tpm_limit",
    "max_parallel_requests",
    "spend",
)

_HASH = re.compile(r"[0-9a-f]{64}")

# What the store's integer columns hold: PostgreSQL INTEGER (rpm_limit,
# max_parallel_requests) and BIGINT (tpm_limit; SQLite's INTEGER is 64-bit too).
INT32_MAX = 2**31 - 1
INT64_MAX = 2**63 - 1
_MAX_PAGE = 10**9  # any page past this is empty, and (page - 1) * size stays far below 2^63


def read_body(
    raw: bytes,
    spec: Mapping[str, Validator],
    required: Collection[str] = (),
    kept: Collection[str] = (),
) -> dict[str, Any]:
    """The body's fields, each validated by ``spec``; unknown or missing ones are a 400.

    Fields named in ``kept`` (LiteLLM's, which tokenway stores without acting on them)
    come back as given under ``"extra"``, when the body has any."""
    given = parse_body(raw)
    extra = {name: given.pop(name) for name in list(given) if name in kept and name not in spec}
    values = read_fields(given, spec, required, where="body", kept=kept)
    if extra:
        values["extra"] = extra
    return values


def read_query(
    query: str, spec: Mapping[str, Validator], required: Collection[str] = ()
) -> dict[str, Any]:
    """Query parameters (the last value wins), validated like body fields."""
    return read_fields(dict(parse_qsl(query, keep_blank_values=True)), spec, required, "query")


def read_fields(
    given: Mapping[str, Any],
    spec: Mapping[str, Validator],
    required: Collection[str] = (),
    where: str = "body",
    kept: Collection[str] = (),
) -> dict[str, Any]:
    unknown = sorted(set(given) - set(spec))
    if unknown:
        accepted = ", ".join(sorted({*spec, *kept}))
        raise BadRequestError(
            f"unknown {where} field(s): {', '.join(unknown)}; accepted: {accepted}",
            param=unknown[0],
            code="unknown_field",
        )
    for name in required:
        if given.get(name) in (None, ""):
            raise BadRequestError(f"'{name}' is required", param=name, code="missing_field")
    return {name: spec[name](name, value) for name, value in given.items()}


# -- validators: (field name, raw value) -> parsed value, or BadRequestError naming it ---


def text(name: str, value: Any) -> str | None:
    if value is None:
        return None
    if not _is_text(value) or not value.strip():
        raise _invalid(name, "a non-empty string without NUL characters")
    return value


def text_list(name: str, value: Any) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(_is_text(v) and v for v in value):
        raise _invalid(name, "a list of non-empty strings")
    return value


def _is_text(value: Any) -> TypeGuard[str]:
    """A string the store can hold: PostgreSQL's TEXT refuses NUL (a 503 otherwise)."""
    return isinstance(value, str) and "\x00" not in value


def spend(name: str, value: Any) -> float:
    """An amount spent: a number >= 0, never null (a record always has a spend)."""
    amount = money(name, value)
    if amount is None:
        raise _invalid(name, "a number >= 0 (US dollars)")
    return amount


def money(name: str, value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not value >= 0:
        raise _invalid(name, "a number >= 0 (US dollars) or null for no limit")
    amount = float(value)
    if not math.isfinite(amount):  # NaN fails `value >= 0` already; this is Infinity
        raise _invalid(name, "a finite number of US dollars, or null for no limit")
    return amount


def bounded_count(high: int) -> Validator:
    """A whole number from 0 to ``high`` (what the store's column holds), or null."""

    def check(name: str, value: Any) -> int | None:
        if value is None:
            return None
        if isinstance(value, float) and value.is_integer():  # JSON has one kind of number
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= high:
            raise _invalid(name, f"a whole number from 0 to {high}, or null for no limit")
        return value

    FIELD_SCHEMAS[check] = {"type": ["integer", "null"], "minimum": 0, "maximum": high}
    return check


count = bounded_count(INT64_MAX)
small_count = bounded_count(INT32_MAX)


def duration(name: str, value: Any) -> str | None:
    """A duration such as "30s", "1h", "1d", "30d", kept as text (the store keeps text)."""
    if value is None:
        return None
    if isinstance(value, str):
        try:
            if parse_duration(value) > 0:
                return value
        except ValueError:
            pass
    raise _invalid(name, 'a duration such as "30s", "15m", "1h", "1d" or "30d", up to 100 years')


def metadata(name: str, value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise _invalid(name, "a JSON object")
    return value


def flag(name: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):  # from a query string
        return value.lower() == "true"
    raise _invalid(name, "true or false")


def key_ref(name: str, value: Any) -> str:
    """A key named by its secret ("sk-…", hashed here) or by its hash: always the hash."""
    if not isinstance(value, str) or not value.strip():
        raise _invalid(name, "a key (its 'sk-…' secret or its hash)")
    return value if _HASH.fullmatch(value) else hash_key(value)


def key_refs(name: str, value: Any) -> list[str]:
    if not isinstance(value, list) or not value:
        raise _invalid(name, "a non-empty list of keys (their 'sk-…' secrets or hashes)")
    return [key_ref(name, item) for item in value]


def ids(name: str, value: Any) -> list[str]:
    if not isinstance(value, list) or not value or not all(_is_text(v) for v in value):
        raise _invalid(name, "a non-empty list of ids")
    return value


def model_aliases(served: Sequence[str]) -> Validator:
    """A list of model names, as LiteLLM takes them: served aliases, models a wildcard
    deployment matches, access groups, ``"*"``, ``"all-proxy-models"``, or names served
    later. Names not served are stored; the answer warns about them
    (``AdminContext.model_warnings``)."""

    def check(name: str, value: Any) -> list[str]:
        return text_list(name, value)

    served_names = sorted(set(served))
    FIELD_SCHEMAS[check] = {
        "type": ["array", "null"],
        "items": {"type": "string", "minLength": 1, "pattern": _NO_NUL},
        "examples": [served_names[:3]] if served_names else [],
    }
    return check


def one_of(*choices: str) -> Validator:
    def check(name: str, value: Any) -> str | None:
        if value is None:
            return None
        if value not in choices:
            raise _invalid(name, f"one of {', '.join(choices)}")
        return str(value)

    FIELD_SCHEMAS[check] = {"enum": [*choices, None]}
    return check


def positive_int(name: str, value: Any) -> int:
    """A page number or page size, from a query string or a body."""
    number = value
    # ASCII digits only: str.isdigit() also accepts "²", which int() refuses; and a short
    # string, since int() refuses more than 4,300 digits.
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 10:
        number = int(value)
    if isinstance(number, bool) or not isinstance(number, int) or not 1 <= number <= _MAX_PAGE:
        raise _invalid(name, f"a whole number from 1 to {_MAX_PAGE}")
    return number


_INSTANT = 'an ISO date ("2026-01-31") or datetime ("2026-01-31T12:00:00Z")'


def instant(name: str, value: Any) -> datetime:
    """An ISO date ("2026-01-31", midnight UTC) or datetime (no zone = UTC)."""
    if isinstance(value, str):
        try:
            if len(value) == 10:
                return datetime.combine(date.fromisoformat(value), datetime.min.time(), UTC)
            parsed = datetime.fromisoformat(value.replace(" ", "+"))  # '+' arrives as ' '
            return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
        except ValueError:
            pass
    raise _invalid(name, _INSTANT)


def end_instant(name: str, value: Any) -> datetime:
    """Like ``instant``, but a bare date ends after that day, so the day is included."""
    moment = instant(name, value)
    if len(value) != 10:
        return moment
    try:
        return moment + timedelta(days=1)
    except OverflowError:  # 9999-12-31 ends past datetime's last day
        raise _invalid(name, f"{_INSTANT}, before 9999-12-31") from None


def time_range(values: Mapping[str, Any]) -> tuple[float | None, float | None]:
    """``start_date``/``end_date`` (parsed by ``instant``/``end_instant``) as epoch seconds."""
    start: datetime | None = values.get("start_date")
    end: datetime | None = values.get("end_date")
    if start is not None and end is not None and end <= start:
        raise BadRequestError(
            "'end_date' must come after 'start_date'", param="end_date", code="invalid_value"
        )
    return (
        start.timestamp() if start is not None else None,
        end.timestamp() if end is not None else None,
    )


_NO_NUL = "^[^\\x00]*$"
_KEY_REF = {"type": "string", "pattern": "\\S"}
# Durations up to 99,999,999s, 999,999m, 99,999h, 9,999d or 999w: all under 100 years.
_DURATION = (
    "^([1-9][0-9]{0,7}s|[1-9][0-9]{0,5}m|[1-9][0-9]{0,4}h|[1-9][0-9]{0,3}d|[1-9][0-9]{0,2}w)$"
)
_DATE = {"type": "string", "format": "date"}
_DATE_TIME = {"type": "string", "format": "date-time"}

FIELD_SCHEMAS.update(
    {
        text: {"type": ["string", "null"], "pattern": "^[^\\x00]*\\S[^\\x00]*$"},
        text_list: {
            "type": ["array", "null"],
            "items": {"type": "string", "minLength": 1, "pattern": _NO_NUL},
        },
        money: {"type": ["number", "null"], "minimum": 0},
        spend: {"type": "number", "minimum": 0},
        duration: {"type": ["string", "null"], "pattern": _DURATION},
        metadata: {"type": ["object", "null"]},
        flag: {"type": "boolean"},
        key_ref: _KEY_REF,
        key_refs: {"type": "array", "minItems": 1, "items": _KEY_REF},
        ids: {"type": "array", "minItems": 1, "items": {"type": "string", "pattern": _NO_NUL}},
        positive_int: {"type": "integer", "minimum": 1, "maximum": _MAX_PAGE},
        instant: {"anyOf": [_DATE, _DATE_TIME]},
        # A bare date ends the next midnight, which must exist.
        end_instant: {"anyOf": [{**_DATE, "pattern": "^(?!9999-12-31)"}, _DATE_TIME]},
    }
)


@dataclass(frozen=True, slots=True)
class Page:
    number: int  # from 1
    size: int

    @property
    def offset(self) -> int:
        return (self.number - 1) * self.size


PAGE_FIELDS: dict[str, Validator] = {
    "page": positive_int,
    "size": positive_int,
    "page_size": positive_int,  # LiteLLM's name on /user/list
}


def page_of(values: Mapping[str, Any], default_size: int, max_size: int) -> Page:
    size = values.get("size") or values.get("page_size") or default_size
    if size > max_size:
        raise BadRequestError(
            f"page size {size} is too large; ask for at most {max_size}",
            param="size",
            code="invalid_value",
        )
    return Page(values.get("page", 1), size)


def _invalid(name: str, expected: str) -> BadRequestError:
    return BadRequestError(f"'{name}' must be {expected}", param=name, code="invalid_value")
