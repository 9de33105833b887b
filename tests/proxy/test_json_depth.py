"""The body depth bound: exact at ``MAX_DEPTH``, and true to orjson's own limit."""

from __future__ import annotations

import threading
from typing import Any

import orjson
import pytest

from tokenway.errors import BadRequestError
from tokenway.proxy.json_depth import MAX_DEPTH, ORJSON_MAX_DEPTH, too_deep
from tokenway.proxy.pipeline.intake import parse_body


def _lists(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


def _objects(depth: int) -> bytes:
    return b'{"a":' * depth + b"1" + b"}" * depth


def test_orjson_serializes_exactly_its_stated_depth() -> None:
    # The check relies on this figure: if an orjson release moves it, fix the constant.
    orjson.dumps(orjson.loads(_lists(ORJSON_MAX_DEPTH)))
    with pytest.raises(orjson.JSONEncodeError):
        orjson.dumps(orjson.loads(_lists(ORJSON_MAX_DEPTH + 1)))


@pytest.mark.parametrize("make", [_lists, _objects])
def test_the_bound_is_exact(make: Any) -> None:
    at_limit, past_limit = make(MAX_DEPTH), make(MAX_DEPTH + 1)
    assert not too_deep(orjson.loads(at_limit))
    assert too_deep(orjson.loads(past_limit))


@pytest.mark.parametrize(
    "body",
    [
        {"messages": [{"role": "user", "content": [{"type": "text"}]}] * 500},
        {"content": "[" * 1000 + "{" * 1000},  # brackets in strings are not nesting
    ],
)
def test_many_brackets_are_not_depth(body: dict[str, Any]) -> None:
    raw = orjson.dumps(body)
    assert raw.count(b"{") + raw.count(b"[") > MAX_DEPTH  # so the serializer decides
    assert not too_deep(orjson.loads(raw))
    assert parse_body(raw) == body


def test_each_thread_checks_its_own_value() -> None:
    deep, shallow = _lists(MAX_DEPTH + 5), orjson.dumps([[1]] * 100)
    results: list[bool] = []

    def check() -> None:
        for _ in range(200):
            results.append(too_deep(orjson.loads(deep)))
            results.append(not too_deep(orjson.loads(shallow)))

    threads = [threading.Thread(target=check) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert all(results) and len(results) == 1600


def test_parse_body_accepts_the_limit_and_refuses_past_it() -> None:
    parse_body(b'{"x":' + _lists(MAX_DEPTH - 1) + b"}")
    with pytest.raises(BadRequestError):
        parse_body(b'{"x":' + _lists(MAX_DEPTH) + b"}")


def test_parse_body_refuses_a_deep_body_as_invalid_json() -> None:
    raw = b'{"model":"m","x":' + _lists(300) + b"}"
    with pytest.raises(BadRequestError) as info:
        parse_body(raw)
    assert info.value.code == "invalid_json"
    assert info.value.status_code == 400
