"""A per-minute limit never tells a client to wait more than a minute (issue 12, item 7).

The windows count in whole seconds and keep a unit 61 s, so before the cap a key over its
rpm limit was told ``retry-after: 61`` and ``x-ratelimit-reset-requests: 61s``.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.proxy.virtual_key_helpers import ALIAS, Management, keyed_proxy
from tests.security.wire import send_json

from tokenway.emulator import Emulator

pytestmark = pytest.mark.usefixtures("clean_emulator")

CHAT = {"model": ALIAS, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 2}


def _seconds(value: str | None) -> int:
    assert value is not None and value.endswith("s"), value
    return int(value[:-1])


def test_an_rpm_refusal_asks_for_at_most_sixty_seconds(emulator: Emulator, tmp_path: Path) -> None:
    with keyed_proxy(emulator, f"sqlite:///{tmp_path / 'keys.db'}") as proxy:
        secret = Management(proxy).new_key(rpm_limit=1)["key"]
        auth = f"Authorization: Bearer {secret}\r\n"
        served = send_json(proxy.port, "POST", "/v1/chat/completions", CHAT, auth=auth)
        assert served.status == 200, served.body
        assert 1 <= _seconds(served.header("x-ratelimit-reset-requests")) <= 60
        refused = send_json(proxy.port, "POST", "/v1/chat/completions", CHAT, auth=auth)
        assert refused.status == 429 and refused.error()["code"] == "rpm_limit_exceeded"
        retry_after = refused.header("retry-after")
        assert retry_after is not None and 1 <= int(retry_after) <= 60
        assert 1 <= _seconds(refused.header("x-ratelimit-reset-requests")) <= 60
        assert f"retry in {retry_after}s" in refused.error()["message"]
