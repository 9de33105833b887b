"""tokenway.proxy.echo: the client's alias and request id as header values."""

from __future__ import annotations

import random
from urllib.parse import unquote

import pytest

from tokenway.proxy.echo import MAX_ALIAS_ECHO, echoable_request_id, header_alias


@pytest.mark.parametrize(
    "alias", ["llama-3.1-8b-instruct", "openai/gpt-4o:2024-08-06", "x" * MAX_ALIAS_ECHO]
)
def test_a_plain_alias_is_echoed_as_it_is(alias: str) -> None:
    assert header_alias(alias) is alias


@pytest.mark.parametrize(
    ("alias", "echoed"),
    [
        ("x\r\nSet-Cookie: a=1", "x%0D%0ASet-Cookie:%20a=1"),
        ("a b", "a%20b"),
        ("100%", "100%25"),
        ("\u2603", "%E2%98%83"),
        ("caf\u00e9", "caf%C3%A9"),
        ("x\x00\x7f", "x%00%7F"),
    ],
)
def test_any_other_alias_is_percent_encoded(alias: str, echoed: str) -> None:
    assert header_alias(alias) == echoed
    assert unquote(echoed) == alias


def test_a_long_alias_is_cut_to_the_bound() -> None:
    assert header_alias("a" * 1_000_000) == "a" * MAX_ALIAS_ECHO


@pytest.mark.parametrize("prefix", ["", "a", "ab", "abc"])
def test_a_cut_never_splits_a_character(prefix: str) -> None:
    alias = prefix + "\U0001f600" * 200  # four escapes (12 characters) each
    echoed = header_alias(alias)
    assert MAX_ALIAS_ECHO - 12 < len(echoed) <= MAX_ALIAS_ECHO
    assert alias.startswith(unquote(echoed, errors="strict"))


def test_random_aliases_give_short_printable_values_that_decode_to_a_prefix() -> None:
    rng = random.Random(11)
    alphabet = "ab-._/: %\t\r\n\x00\x7f\u00e9\u2603\U0001f600"
    for _ in range(3000):
        alias = "".join(rng.choice(alphabet) for _ in range(rng.randrange(1, 120)))
        echoed = header_alias(alias)
        assert 0 < len(echoed) <= MAX_ALIAS_ECHO
        assert echoed.isascii() and echoed.isprintable() and " " not in echoed
        assert alias.startswith(unquote(echoed, errors="strict"))


@pytest.mark.parametrize(
    "value",
    ["0f3c2a9e-1b7d-4c55-9a0e-7d2f3c4b5a69", "req_abc.DEF:1", "x" * 128, "01J9ZQ7W3K"],
)
def test_usual_request_ids_are_echoable(value: str) -> None:
    assert echoable_request_id(value)


@pytest.mark.parametrize(
    "value", ["", "x" * 129, "a b", "a\r\nb", "a\x00", "caf\u00e9", "<script>", "a/b", "a\n"]
)
def test_unusual_request_ids_are_not(value: str) -> None:
    assert not echoable_request_id(value)
