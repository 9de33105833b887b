"""``models`` lists combined as a key's, its user's and its team's are
(``accounting/model_lists.py``)."""

from __future__ import annotations

from tokenway.proxy.accounting.gate import may_use
from tokenway.proxy.accounting.model_lists import AllBut, narrower, team_models_of, team_scoped


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


TEAMS = {"red": {"mine": "model_name_red_1"}, "blue": {"mine": "model_name_blue_2"}}


def test_a_team_key_reaches_its_team_models_by_their_given_names_only() -> None:
    allowed, aliases = team_scoped("red", None, None, TEAMS, None)
    assert aliases == {"mine": "model_name_red_1"}
    assert allowed == AllBut({"model_name_blue_2"})
    assert may_use(allowed, "model_name_red_1") and may_use(allowed, "gpt-4")
    assert not may_use(allowed, "model_name_blue_2")
    # a key's own alias wins; a listed key gets the team model added to its list
    allowed, aliases = team_scoped(
        "red", frozenset({"gpt-4", "mine"}), {"mine": "gpt-4"}, TEAMS, frozenset({"mine"})
    )
    assert aliases == {"mine": "gpt-4"} and allowed == {"gpt-4", "mine", "model_name_red_1"}
    # the key's (or its user's) own list does not name it: not usable
    allowed, aliases = team_scoped("red", frozenset({"gpt-4"}), None, TEAMS, frozenset({"gpt-4"}))
    assert aliases is None and allowed == {"gpt-4"}


def test_other_keys_lose_every_team_model_and_nothing_else() -> None:
    allowed, aliases = team_scoped(None, None, None, TEAMS, None)
    assert aliases is None and not may_use(allowed, "model_name_red_1")
    assert allowed is not None and "anything-else" in allowed and may_use(allowed, "x")
    listed = frozenset({"gpt-4", "model_name_red_1"})
    assert team_scoped("blue", listed, None, TEAMS, listed)[0] == {"gpt-4"}
    assert team_scoped(None, None, None, {}, None) == (None, None)  # no team models: as before
    assert AllBut({"x"}) != frozenset({"x"})  # never mistaken for a plain list
    infos = [("model_name_red_1", {"team_id": "red", "team_public_model_name": "mine"})]
    assert team_models_of([*infos, ("gpt-4", {"team_id": "red"})]) == {
        "red": {"mine": "model_name_red_1"}
    }
