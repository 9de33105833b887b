"""The value rules of :mod:`tokenway.proxy.config.schema`.

Each rule turns a raw YAML value into the typed value tokenway uses, or raises
``ValueError`` with a message that says what is expected. Messages never repeat a
string value: it may have come from an ``os.environ/`` reference and be a secret.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Callable

Rule = Callable[[object], object]


def _describe(value: object) -> str:
    if isinstance(value, bool | int | float):
        return repr(value)
    if isinstance(value, str):
        return "text"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__


def _number(value: object, expected: str) -> float:
    if isinstance(value, int | float) and not isinstance(value, bool):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            raise ValueError(f"must be {expected} (got text that is not a number)") from None
    else:
        raise ValueError(f"must be {expected} (got {_describe(value)})")
    if not math.isfinite(number):
        raise ValueError(f"must be {expected} (got a value that is not finite)")
    return number


def _numeric(expected: str, accept: Callable[[float], bool], *, integer: bool = False) -> Rule:
    """A rule for numbers; numbers written as strings ("500", "3e-08") are accepted too."""

    def convert(value: object) -> float | int:
        number = _number(value, expected)
        if (integer and not number.is_integer()) or not accept(number):
            shown = "a string, not shown" if isinstance(value, str) else f"{number:g}"
            raise ValueError(f"must be {expected} (got {shown})")
        return int(number) if integer else number

    return convert


positive_int = _numeric("a positive integer", lambda n: n > 0, integer=True)
non_negative_int = _numeric("an integer of 0 or more", lambda n: n >= 0, integer=True)
positive_number = _numeric("a number greater than 0", lambda n: n > 0)
non_negative_number = _numeric("a number of 0 or more", lambda n: n >= 0)

_TRUE = frozenset({"true", "1", "yes", "on"})
_FALSE = frozenset({"false", "0", "no", "off"})


def boolean(value: object) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    raise ValueError(f"must be true or false (got {_describe(value)})")


def string(value: object) -> str:
    if not isinstance(value, str):
        raise ValueError(f"must be a string (got {_describe(value)})")
    return value


def non_empty_string(value: object) -> str:
    text = string(value)
    if not text.strip():
        raise ValueError("must not be empty")
    return text


def identifier(value: object) -> str:
    """A deployment id: YAML may read ``id: 1`` as a number."""
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return non_empty_string(value)


def http_url(value: object) -> str:
    text = non_empty_string(value)
    if not text.startswith(("http://", "https://")):
        raise ValueError("must be an http:// or https:// URL")
    return text


def redis_url(value: object) -> str:
    text = non_empty_string(value)
    if not text.startswith(("redis://", "rediss://", "unix://")):
        raise ValueError("must be a redis://, rediss:// or unix:// URL")
    return text


def string_list(value: object) -> list[str]:
    """A list of names; a single name is taken as a list of one."""
    if isinstance(value, str):
        return [value]
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ValueError(f"must be a list of names (got {_describe(value)})")
    return list(value)


def mapping(value: object) -> dict[str, object]:
    if not isinstance(value, dict):
        raise ValueError(f"must be a mapping (got {_describe(value)})")
    return {str(k): v for k, v in value.items()}


def fallback_list(value: object) -> list[object]:
    """``[{"alias": ["other", ...]}, ...]``; ``default_fallbacks`` is a plain list of names."""
    if not isinstance(value, list):
        raise ValueError(f"must be a list (got {_describe(value)})")
    for item in value:
        if isinstance(item, str):
            continue
        if not isinstance(item, dict) or not all(
            isinstance(targets, str | list) for targets in item.values()
        ):
            raise ValueError("must be a list of {model_name: [fallback model_name, ...]} entries")
    return list(value)


def one_of(choices: tuple[str, ...]) -> Rule:
    def convert(value: object) -> str:
        if isinstance(value, str) and value in choices:
            return value
        close = difflib.get_close_matches(value, choices, n=1) if isinstance(value, str) else []
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        raise ValueError(f"must be one of: {', '.join(choices)}{hint}")

    return convert


# scheme://host[:port], as the Origin header carries it (no path, no trailing slash).
_ORIGIN = re.compile(
    r"https?://(?:[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?", re.IGNORECASE
)


def origin_list(value: object) -> list[str]:
    """The config rule of ``cors_allow_origins``: ``"*"`` or exact origins."""
    origins = [value] if isinstance(value, str) else value
    if not isinstance(origins, list) or not origins:
        raise ValueError('must be a list of origins such as "https://app.example", or "*"')
    for origin in origins:
        if origin != "*" and not (isinstance(origin, str) and _ORIGIN.fullmatch(origin)):
            raise ValueError(
                f"{origin!r} is not an origin: write scheme://host[:port] with no path or "
                'trailing slash (e.g. "https://app.example"), or "*" for any origin'
            )
    return [origin.lower() if origin != "*" else origin for origin in origins]
