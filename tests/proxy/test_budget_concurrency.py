"""The issue's concurrency bar through the real proxy: a key whose budget covers 20
requests, 200 of them at once, spends at most 21 requests' worth and serves at least 20."""

from __future__ import annotations

import asyncio
from pathlib import Path

import openai
import pytest
from tests.proxy.conftest import MASTER_KEY, RunningProxy
from tests.proxy.virtual_key_helpers import (
    ALIAS,
    FAST_FLUSH,
    MESSAGES,
    STORES,
    Management,
    async_sdk,
    catalog_cost,
    flushed_rows,
    keyed_proxy,
    sdk,
    store_url,
)

from tokenway.emulator import Emulator

pytestmark = pytest.mark.usefixtures("clean_emulator")

MAX_TOKENS = 8  # below the emulator's shortest free answer (16 tokens): always exactly 8
COVERED = 20
CONCURRENT = 200


@pytest.fixture(params=STORES)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return store_url(request, tmp_path)


async def test_200_concurrent_requests_cannot_overrun_a_20_request_budget(
    emulator: Emulator, database_url: str
) -> None:
    with keyed_proxy(emulator, database_url, **FAST_FLUSH) as proxy:
        price = _price_of_one_request(proxy)
        admin = Management(proxy)
        key = admin.new_key(max_budget=COVERED * price)
        client = async_sdk(proxy, key["key"])
        calls = [
            client.chat.completions.create(model=ALIAS, messages=MESSAGES, max_tokens=MAX_TOKENS)
            for _ in range(CONCURRENT)
        ]
        outcomes = await asyncio.gather(*calls, return_exceptions=True)
        await client.close()

        served = [answer for answer in outcomes if not isinstance(answer, BaseException)]
        refused = [error for error in outcomes if isinstance(error, openai.BadRequestError)]
        assert len(served) >= COVERED
        assert len(served) + len(refused) == CONCURRENT, outcomes  # nothing else went wrong
        assert {error.code for error in refused} == {"budget_exceeded"}

        rows = await asyncio.to_thread(flushed_rows, admin, CONCURRENT, api_key=key["token"])
        assert len(rows) == CONCURRENT  # refused requests get a row too
        assert sum(row["http_status"] == 200 for row in rows) == len(served)
        spent = await asyncio.to_thread(lambda: admin.key_info(key["key"])["spend"])
        assert spent == pytest.approx(sum(row["spend"] or 0.0 for row in rows))
        assert spent <= (COVERED + 1) * price * (1 + 1e-9)


def _price_of_one_request(proxy: RunningProxy) -> float:
    """One request's catalog price, from the usage of a probe made with the master key
    (the emulator is deterministic: the same request always has the same usage)."""
    answer = sdk(proxy, MASTER_KEY).chat.completions.create(
        model=ALIAS, messages=MESSAGES, max_tokens=MAX_TOKENS
    )
    usage = answer.usage
    assert usage is not None and usage.completion_tokens == MAX_TOKENS
    return catalog_cost(ALIAS, usage.prompt_tokens, usage.completion_tokens)
