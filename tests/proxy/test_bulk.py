"""Bulky answers relayed as bytes: the usage read, the alias swapped, or the full parse."""

from __future__ import annotations

import orjson
import pytest
from tests.proxy.test_relay_frames import route

from tokenway.proxy.pipeline.bulk import read_bulky

UPSTREAM = "meta-llama/llama-3.1-8b-instruct/fp-16"
USAGE = {"prompt_tokens": 5, "total_tokens": 5}


def answer(**fields: object) -> bytes:
    data = {"object": "list", "data": [{"embedding": [0.1, -0.2]}], "model": UPSTREAM}
    return orjson.dumps({**data, "usage": USAGE, **fields})


def test_the_usage_is_read_and_the_alias_swapped_in() -> None:
    found = read_bulky(answer(), route())
    assert found is not None
    content, usage = found
    assert usage == USAGE
    assert orjson.loads(content) == {**orjson.loads(answer()), "model": "fast"}


def test_usage_quoted_in_a_string_is_not_taken_for_the_key() -> None:
    found = read_bulky(answer(data='"usage": {"a": 1}'), route())  # escaped in the JSON
    assert found is not None and found[1] == USAGE


def test_the_last_usage_and_model_are_the_answer_s_own() -> None:
    raw = answer(data=[{"usage": {"a": 1}, "model": UPSTREAM}])  # keys inside the data
    found = read_bulky(raw, route())
    assert found is not None and found[1] == USAGE
    data = orjson.loads(found[0])
    assert data["model"] == "fast" and data["data"][0]["model"] == UPSTREAM


def test_spaced_json_is_read_too() -> None:
    raw = b'{"data": [], "model": "%s", "usage": {"prompt_tokens": 5}}\n' % UPSTREAM.encode()
    found = read_bulky(raw, route())
    assert found is not None and found[1] == {"prompt_tokens": 5}
    assert orjson.loads(found[0])["model"] == "fast"


@pytest.mark.parametrize(
    "raw",
    [
        b"not json",
        b"[1, 2]",
        b'{"usage": {"prompt_tokens": 1}, "model": "%s"} trailing' % UPSTREAM.encode(),
        b'{"data": [], "model": "x"}',  # no usage
        answer(usage=None),  # usage is not an object
        answer(model="another-model"),  # the model is not the upstream's
        b'{"model": "%s", "usage": {"prompt_tokens": 5' % UPSTREAM.encode(),  # cut short
    ],
)
def test_anything_unexpected_is_left_to_the_full_parse(raw: bytes) -> None:
    assert read_bulky(raw, route()) is None
