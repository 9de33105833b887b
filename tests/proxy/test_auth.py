from pathlib import Path

import pytest
from tests.proxy.key_helpers import add_key, open_sqlite

from tokenway.errors import AuthenticationError
from tokenway.proxy.accounting.keys import KeyCache
from tokenway.proxy.auth import ANONYMOUS, Authenticator, Principal, bearer_token, hash_key


def test_master_key_by_bearer_or_x_api_key() -> None:
    auth = Authenticator("sk-master")
    assert auth.authenticate({"authorization": "Bearer sk-master"}).kind == "master"
    assert auth.authenticate({"authorization": "bearer  sk-master "}).kind == "master"
    assert auth.authenticate({"x-api-key": "sk-master"}).kind == "master"


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"authorization": "Bearer"},
        {"authorization": "Basic sk-master"},
        {"x-api-key": "sk-other"},
    ],
)
def test_anything_else_is_refused_without_echoing_the_key(headers: dict[str, str]) -> None:
    with pytest.raises(AuthenticationError) as info:
        Authenticator("sk-master").authenticate(headers)
    assert info.value.status_code == 401
    assert "sk-" not in info.value.message


def test_no_master_key_means_anonymous() -> None:
    auth = Authenticator(None)
    assert not auth.enabled
    assert auth.authenticate({}) is ANONYMOUS


def test_virtual_keys_plug_in_by_hash() -> None:
    known = {hash_key("sk-virtual"): Principal("virtual", hash_key("sk-virtual"))}
    auth = Authenticator("sk-master", lookup=known.get)
    assert auth.authenticate({"authorization": "Bearer sk-virtual"}).kind == "virtual"
    with pytest.raises(AuthenticationError):
        auth.authenticate({"authorization": "Bearer sk-unknown"})


def test_bearer_token_parsing() -> None:
    assert bearer_token({"authorization": "Bearer abc"}) == "abc"
    assert bearer_token({"authorization": "Token abc"}) is None
    assert bearer_token({"x-api-key": ""}) is None


async def test_virtual_keys_resolve_through_the_key_cache(tmp_path: Path) -> None:
    store = await open_sqlite(tmp_path / "keys.db")
    try:
        key_hash = await add_key(store, "sk-virtual", models=("a",))
        auth = Authenticator("sk-master", keys=KeyCache(store))
        pending = auth.authenticate({"authorization": "Bearer sk-virtual"})
        assert pending.unresolved and pending.key_hash == key_hash
        principal = await auth.resolve(pending)
        assert principal.kind == "virtual" and not principal.unresolved
        assert principal.key is not None and principal.key.models == {"a"}
        master = await auth.authenticate_async({"authorization": "Bearer sk-master"})
        assert master.kind == "master" and master.key is None
        with pytest.raises(AuthenticationError) as info:
            await auth.authenticate_async({"authorization": "Bearer sk-unknown"})
        assert info.value.code == "invalid_api_key" and "sk-" not in info.value.message
    finally:
        await store.close()


async def test_a_fresh_virtual_key_comes_back_resolved_without_an_await(tmp_path: Path) -> None:
    store = await open_sqlite(tmp_path / "keys.db")
    try:
        key_hash = await add_key(store, "sk-virtual", models=("a",))
        cache = KeyCache(store)
        auth = Authenticator("sk-master", keys=cache)
        headers = {"authorization": "Bearer sk-virtual"}
        assert auth.authenticate(headers).unresolved  # not cached yet
        resolved = await auth.authenticate_async(headers)
        again = auth.authenticate(headers)
        assert again.key is resolved.key and again.key_hash == key_hash
        assert auth.authenticate(headers) is again  # remembered: no hash, no new principal
        master = auth.authenticate({"x-api-key": "sk-master"})
        assert master.kind == "master" and auth.authenticate({"x-api-key": "sk-master"}) is master
        await store.delete_keys([key_hash])
        cache.invalidate(key_hash)  # deleted on this instance
        assert auth.authenticate(headers).unresolved
        with pytest.raises(AuthenticationError):
            await auth.authenticate_async(headers)
    finally:
        await store.close()


async def test_only_keys_that_authenticated_are_remembered_and_only_so_many(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("tokenway.proxy.auth._RECENT_TOKENS", 2)
    store = await open_sqlite(tmp_path / "keys.db")
    try:
        auth = Authenticator("sk-master", keys=KeyCache(store))
        for secret in ("sk-a", "sk-b", "sk-c"):
            await add_key(store, secret)
            headers = {"authorization": f"Bearer {secret}"}
            await auth.authenticate_async(headers)
            assert auth.authenticate(headers).key is not None
        for _ in range(3):
            with pytest.raises(AuthenticationError):
                await auth.authenticate_async({"authorization": "Bearer sk-unknown"})
        assert list(auth._recent) == ["sk-b", "sk-c"]
    finally:
        await store.close()


def test_azures_api_key_header_is_taken_only_without_authorization() -> None:
    assert bearer_token({"api-key": "sk-azure"}) == "sk-azure"
    assert bearer_token({"x-api-key": "sk-x", "api-key": "sk-azure"}) == "sk-x"
    assert bearer_token({"authorization": "Bearer sk-b", "api-key": "sk-azure"}) == "sk-b"
