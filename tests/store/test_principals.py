"""Keys, users and teams: create, read, update, rehash, delete and list, on both dialects."""

from __future__ import annotations

import pytest
from tests.store.records import budget, key, team, user

from tokenway.store import ConflictError, KeyRecord, Limits, Store


def full_key() -> KeyRecord:
    return KeyRecord(
        key_hash="a" * 64,
        key_name="sk-...wxyz",
        key_alias="ci",
        user_id="user-1",
        team_id="team-1",
        models=["llama", "mistral"],
        limits=Limits(
            max_budget=10.5,
            budget_duration="30d",
            budget_reset_at=1_800_000_000.0,
            spend=1.25,
            rpm_limit=60,
            tpm_limit=100_000,
            max_parallel_requests=4,
        ),
        expires_at=1_900_000_000.5,
        blocked=True,
        metadata={"owner": "ops", "tags": ["a", "b"], "n": 1},
        created_at=1_700_000_000.25,
        updated_at=1_700_000_001.0,
    )


async def test_a_key_reads_back_exactly_as_written(store: Store) -> None:
    await store.create_key(full_key())
    assert await store.get_key("a" * 64) == full_key()
    assert await store.get_key("missing") is None


async def test_missing_timestamps_are_filled_in(store: Store) -> None:
    await store.create_key(key("hash-1"))
    stored = await store.get_key("hash-1")
    assert stored is not None
    assert stored.created_at > 1_700_000_000 and stored.updated_at == stored.created_at
    assert stored.models == [] and stored.metadata == {} and stored.limits == Limits()


async def test_duplicate_hash_or_alias_is_a_conflict(store: Store) -> None:
    await store.create_key(key("hash-1", key_alias="prod"))
    with pytest.raises(ConflictError) as same_hash:
        await store.create_key(key("hash-1"))
    assert same_hash.value.what == "key_hash"
    with pytest.raises(ConflictError) as same_alias:
        await store.create_key(key("hash-2", key_alias="prod"))
    assert same_alias.value.what == "key_alias"
    assert "key_alias" in str(same_alias.value)
    await store.create_key(key("hash-3"))  # many keys may have no alias
    await store.create_key(key("hash-4"))


async def test_update_sets_fields_and_limits_by_name(store: Store) -> None:
    await store.create_key(key("hash-1", created_at=100.0, updated_at=100.0))
    changes = {"key_alias": "new", "models": ["m"], "blocked": True, "rpm_limit": 5}
    updated = await store.update_key("hash-1", {**changes, "max_budget": 2, "metadata": {"x": 1}})
    assert updated is not None
    assert (updated.key_alias, updated.models, updated.blocked) == ("new", ["m"], True)
    assert updated.limits == Limits(max_budget=2.0, rpm_limit=5)
    assert updated.metadata == {"x": 1}
    assert updated.updated_at > 100.0 and updated.created_at == 100.0
    assert await store.get_key("hash-1") == updated


async def test_update_takes_a_whole_limits_object(store: Store) -> None:
    await store.create_key(key("hash-1", limits=Limits(rpm_limit=1, spend=3.0)))
    updated = await store.update_key("hash-1", {"limits": budget(5.0, "1h", 123.0)})
    assert updated is not None and updated.limits == budget(5.0, "1h", 123.0)


async def test_update_refuses_unknown_fields_and_bad_values(store: Store) -> None:
    await store.create_key(key("hash-1"))
    with pytest.raises(ValueError, match="unknown key field 'colour'"):
        await store.update_key("hash-1", {"colour": "red"})
    with pytest.raises(ValueError, match="rehash_key"):
        await store.update_key("hash-1", {"key_hash": "other"})
    with pytest.raises(ValueError, match="invalid duration"):
        await store.update_key("hash-1", {"budget_duration": "monthly"})
    with pytest.raises(ValueError, match="rpm_limit must be a whole number"):
        await store.update_key("hash-1", {"rpm_limit": 1.5})
    with pytest.raises(ValueError, match="max_budget must be a number"):
        await store.update_key("hash-1", {"max_budget": "lots"})


async def test_update_of_a_missing_key_or_with_nothing_to_change(store: Store) -> None:
    assert await store.update_key("missing", {"blocked": True}) is None
    assert await store.update_key("missing", {}) is None
    await store.create_key(key("hash-1", created_at=5.0, updated_at=5.0))
    assert await store.update_key("hash-1", {}) == await store.get_key("hash-1")


async def test_update_to_a_taken_alias_is_a_conflict(store: Store) -> None:
    await store.create_key(key("hash-1", key_alias="one"))
    await store.create_key(key("hash-2", key_alias="two"))
    with pytest.raises(ConflictError) as info:
        await store.update_key("hash-2", {"key_alias": "one"})
    assert info.value.what == "key_alias"


async def test_rehash_moves_the_key_and_keeps_its_state(store: Store) -> None:
    await store.create_key(key("old-hash", key_alias="k", limits=Limits(spend=2.5)))
    moved = await store.rehash_key("old-hash", "new-hash", "sk-...next")
    assert moved is not None
    assert (moved.key_hash, moved.key_name, moved.key_alias) == ("new-hash", "sk-...next", "k")
    assert moved.limits.spend == 2.5
    assert await store.get_key("old-hash") is None
    assert await store.get_key("new-hash") == moved
    assert await store.rehash_key("old-hash", "other", "sk-...x") is None


async def test_rehash_onto_an_existing_hash_is_a_conflict(store: Store) -> None:
    await store.create_key(key("hash-1"))
    await store.create_key(key("hash-2"))
    with pytest.raises(ConflictError) as info:
        await store.rehash_key("hash-1", "hash-2", "sk-...x")
    assert info.value.what == "key_hash"


async def test_delete_counts_what_existed(store: Store) -> None:
    for name in ("hash-1", "hash-2", "hash-3"):
        await store.create_key(key(name))
    assert await store.delete_keys(["hash-1", "hash-3", "missing"]) == 2
    assert await store.delete_keys([]) == 0
    assert [k.key_hash for k in await store.list_keys()] == ["hash-2"]


async def test_list_keys_filters_and_pages_in_creation_order(store: Store) -> None:
    for i in range(7):
        owner = {"user_id": "alice" if i % 2 else "bob", "team_id": "red" if i < 4 else "blue"}
        await store.create_key(key(f"hash-{i}", created_at=1000.0 + i, **owner))
    every = [k.key_hash for k in await store.list_keys()]
    assert every == [f"hash-{i}" for i in range(7)]
    assert [k.key_hash for k in await store.list_keys(offset=2, limit=3)] == every[2:5]
    alice = [k.key_hash for k in await store.list_keys(user_id="alice")]
    assert alice == ["hash-1", "hash-3", "hash-5"]
    alice_red = await store.list_keys(user_id="alice", team_id="red")
    assert [k.key_hash for k in alice_red] == ["hash-1", "hash-3"]
    assert await store.list_keys(team_id="none") == []
    with pytest.raises(ValueError, match="must not be negative"):
        await store.list_keys(offset=-1)


async def test_users_round_trip_update_list_and_delete(store: Store) -> None:
    alice = user("alice", user_email="a@example.com", user_role="internal_user", team_id="red")
    alice.models.append("llama")
    alice.metadata["k"] = "v"
    alice.limits = budget(3.0, "1d", 50.0)
    await store.create_user(alice)
    await store.create_user(user("bob"))
    stored = await store.get_user("alice")
    assert stored is not None and stored.created_at > 0
    stored.created_at = stored.updated_at = 0.0
    assert stored == alice
    updated = await store.update_user("bob", {"user_email": "b@example.com", "tpm_limit": 10})
    assert updated is not None and (updated.user_email, updated.limits.tpm_limit) == (
        "b@example.com",
        10,
    )
    assert [u.user_id for u in await store.list_users(limit=1)] == ["alice"]
    assert [u.user_id for u in await store.list_users(offset=1)] == ["bob"]
    assert await store.delete_users(["alice", "nobody"]) == 1
    assert await store.get_user("alice") is None


async def test_teams_round_trip_update_list_and_delete(store: Store) -> None:
    await store.create_team(team("red", team_alias="Red team", models=["llama"], blocked=True))
    await store.create_team(team("blue"))
    red = await store.get_team("red")
    assert red is not None and (red.team_alias, red.models, red.blocked) == (
        "Red team",
        ["llama"],
        True,
    )
    unblocked = await store.update_team("red", {"blocked": False, "max_parallel_requests": 2})
    assert unblocked is not None and not unblocked.blocked
    assert unblocked.limits.max_parallel_requests == 2
    assert [t.team_id for t in await store.list_teams()] == ["red", "blue"]
    assert await store.delete_teams(["red", "blue"]) == 2
    assert await store.list_teams() == []


async def test_duplicate_users_and_teams_are_conflicts(store: Store) -> None:
    await store.create_user(user("alice"))
    await store.create_team(team("red"))
    with pytest.raises(ConflictError) as same_user:
        await store.create_user(user("alice"))
    assert same_user.value.what == "user_id"
    with pytest.raises(ConflictError) as same_team:
        await store.create_team(team("red"))
    assert same_team.value.what == "team_id"


async def test_users_and_teams_refuse_unknown_fields(store: Store) -> None:
    await store.create_user(user("alice"))
    await store.create_team(team("red"))
    with pytest.raises(ValueError, match="unknown user field 'key_alias'"):
        await store.update_user("alice", {"key_alias": "x"})
    with pytest.raises(ValueError, match="team_id identifies the team"):
        await store.update_team("red", {"team_id": "blue"})
