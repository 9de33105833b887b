"""Wildcard group names: which requested models they take, and how the '*' is filled in."""

from __future__ import annotations

from tokenway.router.patterns import Pattern, compile_patterns, match, substitute


def test_star_takes_anything_and_a_prefix_only_its_own() -> None:
    assert Pattern.of("*").captures("gpt-4o") == ("gpt-4o",)
    prefixed = Pattern.of("inference/*")
    assert prefixed.captures("inference/meta-llama/x") == ("meta-llama/x",)
    assert prefixed.captures("openai/gpt-4o") is None
    assert prefixed.captures("inference/") is None  # a '*' matches at least one character
    assert Pattern.of("a.b/*").captures("aXb/c") is None  # the rest is literal, not a regex


def test_the_most_specific_pattern_is_asked_first_then_config_order() -> None:
    patterns = compile_patterns(["*", "exact", "inference/*", "inference/meta-*", "other/*"])
    assert [p.name for p in patterns] == ["inference/meta-*", "inference/*", "other/*", "*"]
    assert match(patterns, "inference/meta-llama").name == "inference/meta-*"  # type: ignore[union-attr]
    assert match(patterns, "inference/mistral").name == "inference/*"  # type: ignore[union-attr]
    assert match(patterns, "gpt-4o").name == "*"  # type: ignore[union-attr]
    assert match(compile_patterns(["inference/*"]), "gpt-4o") is None


def test_what_the_stars_matched_replaces_the_upstream_stars() -> None:
    assert substitute("*", ("gpt-4o",)) == "gpt-4o"
    assert substitute("fixed-model", ("gpt-4o",)) == "fixed-model"
    captures = Pattern.of("fo::*:static::*").captures("fo::hi:static::there")
    assert captures == ("hi", "there")
    assert substitute("fo::*:static::*", captures) == "fo::hi:static::there"
