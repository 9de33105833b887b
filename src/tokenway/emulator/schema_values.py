"""A JSON value that validates against a JSON schema, for structured outputs and tool arguments.

Covers what tools and `response_format` schemas use in practice: objects (required and
optional properties, `additionalProperties`), arrays (`items`, `prefixItems`, sizes,
`uniqueItems`), `enum`, `const`, strings (formats and property-name hints), numbers and
integers (bounds, `multipleOf`), booleans, null, `anyOf`/`oneOf`/`allOf`, and local
`$ref`s into `$defs`/`definitions`. String `pattern`s are not honoured.
"""

from __future__ import annotations

import math
import random
import re
from dataclasses import dataclass
from typing import Any

from .prose import write_phrase, write_sentence

__all__ = ["Hints", "find_places", "value_for_schema"]

_MAX_DEPTH = 6
_DEFAULT_PLACE = "San Francisco, CA"
_SENTENCE_STARTERS = (
    "A An And Are At Can Check Could Do Does Find For Get Give Hello Hi How I If In Is It "
    "List Look Me My Of On Our Please Search Should Show Tell Thanks That The This To "
    "Use What When Where Which Who Why Will Would You Your"
)
_NOT_PLACES = frozenset(_SENTENCE_STARTERS.split(" "))
_FORMATS = {
    "date": "2025-07-01",
    "date-time": "2025-07-01T14:30:00Z",
    "time": "14:30:00",
    "email": "alex.morgan@example.com",
    "uri": "https://example.com/",
    "url": "https://example.com/",
    "uuid": "3f8e2a4c-9b1d-4c7e-8a2f-6d5b1e0c9a47",
    "hostname": "example.com",
    "ipv4": "192.0.2.10",
}
_NAMED_STRINGS = {
    "name": "Alex Morgan",
    "full_name": "Alex Morgan",
    "first_name": "Alex",
    "last_name": "Morgan",
    "email": _FORMATS["email"],
    "url": _FORMATS["uri"],
    "website": _FORMATS["uri"],
    "country": "United States",
    "unit": "celsius",
    "units": "metric",
    "date": _FORMATS["date"],
    "time": "14:30",
    "language": "English",
    "currency": "USD",
    "phone": "+1-415-555-0134",
    "timezone": "America/Los_Angeles",
    "id": "a1b2c3d4",
}
_PLACE_WORDS = frozenset({"location", "city", "place", "destination", "origin", "address"})
_TEXT_WORDS = frozenset(
    {"description", "summary", "text", "content", "answer", "reason", "explanation", "message"}
)
_QUERY_KEYS = ("query", "question", "q", "search", "prompt", "topic", "keywords")


@dataclass
class Hints:
    """What the conversation suggests for string values; `places` are used in turn."""

    user_text: str = ""
    places: tuple[str, ...] = ()
    place_turn: int = 0

    def next_place(self) -> str:
        if not self.places:
            return _DEFAULT_PLACE
        place = self.places[self.place_turn % len(self.places)]
        self.place_turn += 1
        return place


def find_places(text: str) -> tuple[str, ...]:
    """Capitalised word runs that are not sentence starters: "weather in New York" → New York."""
    places: list[str] = []
    for match in re.finditer(r"[A-Z][a-zA-Z]+(?: [A-Z][a-zA-Z]+)*", text):
        words = [word for word in match.group().split() if word not in _NOT_PLACES]
        if words and " ".join(words) not in places:
            places.append(" ".join(words))
    return tuple(places)


def value_for_schema(schema: Any, rng: random.Random, hints: Hints | None = None) -> Any:
    """A value valid under `schema` (a dict; `True`/`{}` allow anything)."""
    return _Builder(schema if isinstance(schema, dict) else {}, rng, hints or Hints()).build(
        schema, "", 0
    )


class _Builder:
    def __init__(self, root: dict[str, Any], rng: random.Random, hints: Hints) -> None:
        self.root = root
        self.rng = rng
        self.hints = hints

    def build(self, schema: Any, key: str, depth: int) -> Any:
        if not isinstance(schema, dict):
            return write_phrase(self.rng, 2) if schema is not False else None
        schema = self.resolve(schema)
        if "const" in schema:
            return schema["const"]
        if isinstance(schema.get("enum"), list) and schema["enum"]:
            return self.rng.choice(schema["enum"])
        for keyword in ("anyOf", "oneOf"):
            options = schema.get(keyword)
            if isinstance(options, list) and options:
                return self.build(_first_not_null(options), key, depth)
        if isinstance(schema.get("allOf"), list):
            return self.build(_merge_all_of(schema, self.resolve), key, depth)
        kind = _kind_of(schema)
        builder = getattr(self, f"build_{kind}", None)
        return builder(schema, key, depth) if builder else None

    def resolve(self, schema: dict[str, Any]) -> dict[str, Any]:
        seen = 0
        while isinstance(schema.get("$ref"), str) and seen < 32:
            target: Any = self.root
            for part in schema["$ref"].lstrip("#").strip("/").split("/"):
                target = (
                    target.get(part.replace("~1", "/").replace("~0", "~"), {}) if part else target
                )
            schema = target if isinstance(target, dict) else {}
            seen += 1
        return schema

    def build_object(self, schema: dict[str, Any], key: str, depth: int) -> dict[str, Any]:
        properties = schema.get("properties") or {}
        required = [name for name in schema.get("required") or () if isinstance(name, str)]
        value: dict[str, Any] = {}
        for name, subschema in properties.items():
            if name in required or (depth < _MAX_DEPTH and self.rng.random() < 0.5):
                value[name] = self.build(subschema, name, depth + 1)
        for name in required:
            if name not in value:
                value[name] = write_phrase(self.rng, 2)
        if not properties and schema.get("additionalProperties") not in (False, None):
            extra = schema["additionalProperties"]
            value["value"] = self.build(
                extra if isinstance(extra, dict) else {}, "value", depth + 1
            )
        return value

    def build_array(self, schema: dict[str, Any], key: str, depth: int) -> list[Any]:
        prefix: list[Any] = schema.get("prefixItems") or []
        low = int(schema.get("minItems", 0))
        high = int(schema.get("maxItems", max(low, 3)))
        count = max(
            len(prefix), low, min(high, 0 if depth >= _MAX_DEPTH else self.rng.randint(1, 3))
        )
        items = schema.get("items", {})
        values: list[Any] = []
        for index in range(count * 4 if schema.get("uniqueItems") else count):
            subschema = prefix[index] if index < len(prefix) else items
            candidate = self.build(subschema, key, depth + 1)
            if not schema.get("uniqueItems") or candidate not in values:
                values.append(candidate)
            if len(values) == count:
                break
        return values

    def build_string(self, schema: dict[str, Any], key: str, depth: int) -> str:
        text = self.string_for(_snake_case(key), schema.get("format"))
        low = int(schema.get("minLength", 0))
        high = schema.get("maxLength")
        while len(text) < low:
            text += " " + write_phrase(self.rng, 1)
        return text[: int(high)] if high is not None else text

    def string_for(self, key: str, fmt: object) -> str:
        if isinstance(fmt, str) and fmt in _FORMATS:
            return _FORMATS[fmt]
        words = set(re.split(r"[_\-\s]+", key))
        if words & _PLACE_WORDS:
            return self.hints.next_place()
        if key in _NAMED_STRINGS:
            return _NAMED_STRINGS[key]
        if key in _QUERY_KEYS and self.hints.user_text:
            return " ".join(self.hints.user_text.split()[:12])
        if words & _TEXT_WORDS:
            return write_sentence(self.rng)
        return write_phrase(self.rng, self.rng.randint(1, 3))

    def build_integer(self, schema: dict[str, Any], key: str, depth: int) -> int:
        low_bound, high_bound = _bounds(schema, margin=1)
        low, high = math.ceil(low_bound), max(math.floor(high_bound), math.ceil(low_bound))
        step = schema.get("multipleOf")
        if isinstance(step, int) and step > 0:
            first = -(-low // step) * step
            choices = range(first, high + 1, step)
            return self.rng.choice(choices) if choices else first
        return self.rng.randint(low, high)

    def build_number(self, schema: dict[str, Any], key: str, depth: int) -> float:
        low, high = _bounds(schema, margin=0.01)
        value = round(self.rng.uniform(low, high), 2)
        return min(max(value, low), high)

    def build_boolean(self, schema: dict[str, Any], key: str, depth: int) -> bool:
        return self.rng.random() < 0.5

    def build_null(self, schema: dict[str, Any], key: str, depth: int) -> None:
        return None


def _snake_case(key: str) -> str:
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", key).lower()


def _kind_of(schema: dict[str, Any]) -> str:
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((name for name in kind if name != "null"), "null")
    if isinstance(kind, str):
        return kind
    if "properties" in schema or "additionalProperties" in schema:
        return "object"
    if "items" in schema or "prefixItems" in schema:
        return "array"
    return "string"


def _first_not_null(options: list[Any]) -> Any:
    for option in options:
        if not (isinstance(option, dict) and option.get("type") == "null"):
            return option
    return options[0]


def _merge_all_of(schema: dict[str, Any], resolve: Any) -> dict[str, Any]:
    merged: dict[str, Any] = {k: v for k, v in schema.items() if k != "allOf"}
    for part in schema["allOf"]:
        part = resolve(part) if isinstance(part, dict) else {}
        for name, value in part.items():
            if name == "properties":
                merged["properties"] = {**merged.get("properties", {}), **value}
            elif name == "required":
                merged["required"] = [*merged.get("required", []), *value]
            else:
                merged.setdefault(name, value)
    return merged


def _bounds(schema: dict[str, Any], *, margin: float) -> tuple[float, float]:
    """The inclusive range allowed by (exclusive) minimum/maximum, defaulting to 1..100."""
    low = schema.get("minimum")
    high = schema.get("maximum")
    if isinstance(schema.get("exclusiveMinimum"), int | float):
        low = schema["exclusiveMinimum"] + margin
    if isinstance(schema.get("exclusiveMaximum"), int | float):
        high = schema["exclusiveMaximum"] - margin
    if low is None:
        low = 1 if high is None or high >= 1 else high - 100
    if high is None:
        high = max(low, 1) + 99
    return float(low), float(max(low, high))
