"""The x-litellm-* headers a chat answer carries about its call, through the real proxy:
the key's spend (a virtual key's), the retries it was allowed, its timeout."""

from __future__ import annotations

from pathlib import Path

from tests.proxy.virtual_key_helpers import ALIAS, MESSAGES, Management, keyed_proxy, sdk

from tokenway.emulator import Emulator


def test_a_virtual_keys_answers_carry_its_spend(emulator: Emulator, tmp_path: Path) -> None:
    with keyed_proxy(emulator, f"sqlite:///{tmp_path / 'tw.db'}") as proxy:
        client = sdk(proxy, Management(proxy).new_key()["key"])
        spends = []
        for _ in range(2):
            answer = client.chat.completions.with_raw_response.create(
                model=ALIAS, messages=MESSAGES, max_tokens=4
            )
            assert answer.headers["x-litellm-max-retries"] == "0"  # the test config's router
            assert float(answer.headers["x-litellm-timeout"]) > 0  # the deployment's
            spends.append(float(answer.headers["x-litellm-key-spend"]))
        assert 0 < spends[0] < spends[1]  # each answer's cost is in it once settled
