import random
from typing import Any

import jsonschema
import pytest

from tokenway.emulator.schema_values import Hints, find_places, value_for_schema

PERSON = {
    "type": "object",
    "properties": {
        "name": {"type": "string"},
        "age": {"type": "integer", "minimum": 18, "maximum": 99},
        "score": {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1},
        "active": {"type": "boolean"},
        "role": {"type": "string", "enum": ["admin", "user", "guest"]},
        "email": {"type": "string", "format": "email"},
        "tags": {"type": "array", "items": {"type": "string"}, "minItems": 2, "maxItems": 4},
        "address": {
            "type": "object",
            "properties": {"city": {"type": "string"}, "zip": {"type": "string", "maxLength": 5}},
            "required": ["city", "zip"],
            "additionalProperties": False,
        },
        "nickname": {"type": ["string", "null"]},
    },
    "required": ["name", "age", "score", "active", "role", "tags", "address"],
    "additionalProperties": False,
}
DEFS = {
    "$defs": {
        "Item": {
            "type": "object",
            "properties": {
                "sku": {"type": "string", "minLength": 8},
                "qty": {"type": "integer", "multipleOf": 5, "minimum": 1, "maximum": 50},
                "kind": {"const": "item"},
            },
            "required": ["sku", "qty", "kind"],
        }
    },
    "type": "object",
    "properties": {
        "items": {"type": "array", "items": {"$ref": "#/$defs/Item"}, "uniqueItems": True},
        "note": {"anyOf": [{"type": "null"}, {"type": "string"}]},
        "combined": {"allOf": [{"properties": {"a": {"type": "integer"}}, "required": ["a"]}]},
    },
    "required": ["items", "note", "combined"],
}
SCHEMAS: list[Any] = [
    PERSON,
    DEFS,
    {"type": "array", "items": {"type": "number", "minimum": -5, "maximum": -1}},
    {"type": "string", "minLength": 30},
    {"type": "integer", "maximum": -10},
    {"enum": [1, "two", None]},
    {"type": "object"},
    {},
]


@pytest.mark.parametrize("schema", SCHEMAS)
@pytest.mark.parametrize("seed", range(25))
def test_generated_values_validate_against_their_schema(schema: Any, seed: int) -> None:
    value = value_for_schema(schema, random.Random(seed))
    jsonschema.validate(value, schema)


def test_same_seed_same_value() -> None:
    assert value_for_schema(PERSON, random.Random(3)) == value_for_schema(PERSON, random.Random(3))


def test_strings_follow_property_names_and_the_conversation() -> None:
    schema = {
        "type": "object",
        "properties": {"location": {"type": "string"}, "query": {"type": "string"}},
        "required": ["location", "query"],
    }
    hints = Hints(user_text="Is it raining in Buenos Aires today?", places=("Buenos Aires",))
    value = value_for_schema(schema, random.Random(0), hints)
    assert value["location"] == "Buenos Aires"
    assert value["query"].startswith("Is it raining")
    assert value_for_schema(schema, random.Random(0))["location"] == "San Francisco, CA"


def test_places_are_capitalised_runs_that_do_not_start_a_question() -> None:
    assert find_places("What's the weather in New York and in Paris?") == ("New York", "Paris")
    assert find_places("how warm is it today?") == ()
    assert find_places("Tell me about Lyon") == ("Lyon",)
