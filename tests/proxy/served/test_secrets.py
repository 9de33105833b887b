"""Upstream keys sealed with AES-GCM under a key derived from the salt or master key."""

from __future__ import annotations

import pytest

from tokenway.proxy.served.secrets import SealError, SecretBox

KEY = "sk-upstream-0123456789abcdef"


def test_a_sealed_key_opens_with_the_same_secret_and_shows_nothing_of_it() -> None:
    box = SecretBox("master-secret")
    sealed = box.seal(KEY, "model-1")
    assert KEY not in sealed and "0123456789" not in sealed
    assert sealed != box.seal(KEY, "model-1")  # a fresh nonce each time
    assert SecretBox("master-secret").open(sealed, "model-1") == KEY


def test_another_secret_or_another_model_id_cannot_open_it() -> None:
    sealed = SecretBox("one").seal(KEY, "model-1")
    with pytest.raises(SealError):
        SecretBox("two").open(sealed, "model-1")
    with pytest.raises(SealError):
        SecretBox("one").open(sealed, "model-2")  # copied onto another row
    with pytest.raises(SealError):
        SecretBox("one").open("not-sealed", "model-1")
    with pytest.raises(SealError):
        SecretBox("one").open(sealed[:-4], "model-1")  # damaged


def test_the_salt_key_wins_over_the_master_key_and_litellms_name_is_taken() -> None:
    sealed = SecretBox.from_env({"TOKENWAY_SALT_KEY": "salt"}, "master").seal(KEY, "m")
    assert SecretBox.from_env({"TOKENWAY_SALT_KEY": "salt"}, "other-master").open(sealed, "m")
    assert SecretBox.from_env({"LITELLM_SALT_KEY": "salt"}, None).open(sealed, "m") == KEY
    with pytest.raises(SealError):
        SecretBox.from_env({}, "master").open(sealed, "m")


def test_without_any_secret_nothing_is_sealed() -> None:
    box = SecretBox.from_env({}, None)
    assert not box.available
    with pytest.raises(SealError):
        box.seal(KEY, "m")
