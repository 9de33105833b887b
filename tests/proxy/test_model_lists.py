"""``models`` lists combined as a key's, its user's and its team's are
(``accounting/model_lists.py``)."""

from __future__ import annotations

from tokenway.proxy.accounting.model_lists import narrower


def test_narrower_is_the_intersection_for_plain_names() -> None:
    assert narrower(frozenset({"a", "b"}), frozenset({"b", "c"})) == {"b"}
    assert narrower(None, frozenset({"a"})) == {"a"}
    assert narrower(frozenset({"a"}), None) == {"a"}
    assert narrower(None, None) is None


def test_a_pattern_keeps_the_names_of_the_other_list_it_matches() -> None:
    user = frozenset({"anthropic/*", "good-model"})
    key = frozenset({"anthropic/claude-x", "bedrock/y"})
    assert narrower(key, user) == {"anthropic/claude-x"}
    assert narrower(user, frozenset({"anthropic/*"})) == {"anthropic/*"}
