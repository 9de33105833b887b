"""One spend row per request through the real proxy, on SQLite and PostgreSQL: plain,
streamed (with or without usage for the client), failed upstream and cut mid-stream, each
with the tokens the client was told and the catalog's price of them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import openai
import pytest
from openai import OpenAI
from tests.proxy.virtual_key_helpers import (
    ALIAS,
    FAST_FLUSH,
    MESSAGES,
    STORES,
    Management,
    catalog_cost,
    flushed_rows,
    keyed_proxy,
    sdk,
    store_url,
)

from tokenway.emulator import Emulator, FaultConfig

pytestmark = pytest.mark.usefixtures("clean_emulator")


@pytest.fixture(params=STORES)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return store_url(request, tmp_path)


def test_plain_and_streamed_requests_each_get_a_row_with_their_cost(
    emulator: Emulator, database_url: str
) -> None:
    with keyed_proxy(emulator, database_url, **FAST_FLUSH) as proxy:
        admin = Management(proxy)
        key = admin.new_key(key_alias="spender", max_budget=10.0)
        client = sdk(proxy, key["key"])

        plain = client.chat.completions.with_raw_response.create(
            model=ALIAS, messages=MESSAGES, max_tokens=9
        )
        usage = plain.parse().usage
        assert usage is not None
        header_cost = float(plain.headers["x-tokenway-response-cost"])
        assert header_cost == pytest.approx(
            catalog_cost(ALIAS, usage.prompt_tokens, usage.completion_tokens)
        )
        streamed = _streamed_usage(client, include_usage=True)
        assert streamed is not None
        assert _streamed_usage(client, include_usage=False) is None  # the same request

        rows = flushed_rows(admin, 3, api_key=key["token"])
        assert len({row["request_id"] for row in rows}) == len(rows) == 3
        (plain_row,) = [row for row in rows if not row["stream"]]
        assert plain_row["request_id"] == plain.headers["x-request-id"]
        _assert_charged(plain_row, usage.prompt_tokens, usage.completion_tokens)
        assert plain_row["spend"] == pytest.approx(header_cost)
        for row in rows:
            if row["stream"]:  # with or without usage for the client: charged alike
                _assert_charged(row, *streamed)
        assert all(row["api_key"] == key["token"] for row in rows)
        assert all("payload" not in row for row in rows)  # no text unless configured


def test_a_failed_upstream_request_gets_a_row_without_cost(
    emulator: Emulator, database_url: str
) -> None:
    with keyed_proxy(emulator, database_url, **FAST_FLUSH) as proxy:
        admin = Management(proxy)
        key = admin.new_key()
        emulator.faults = FaultConfig(error_rate=1.0, error_status=500)
        with pytest.raises(openai.APIStatusError) as failed:
            sdk(proxy, key["key"]).chat.completions.create(
                model=ALIAS, messages=MESSAGES, max_tokens=9
            )

        (row,) = flushed_rows(admin, 1, api_key=key["token"])
        assert row["http_status"] == failed.value.status_code >= 500
        assert row["status"] == "failure" and row["error_code"]
        assert not row["spend"] and row["completion_tokens"] == 0


def test_a_stream_cut_after_content_gets_a_row_with_an_error_code(
    emulator: Emulator, database_url: str
) -> None:
    with keyed_proxy(emulator, database_url, **FAST_FLUSH) as proxy:
        admin = Management(proxy)
        key = admin.new_key()
        emulator.faults = FaultConfig(stream_cut_after=3)
        assert _cut_stream(sdk(proxy, key["key"]))  # content arrived before the cut

        (row,) = flushed_rows(admin, 1, api_key=key["token"])
        assert row["stream"] is True
        assert row["error_code"] and row["status"] == "failure"


def test_a_stream_cut_after_content_is_charged_for_what_was_delivered(
    emulator: Emulator, database_url: str
) -> None:
    with keyed_proxy(emulator, database_url, **FAST_FLUSH) as proxy:
        admin = Management(proxy)
        key = admin.new_key()
        emulator.faults = FaultConfig(stream_cut_after=3)
        _cut_stream(sdk(proxy, key["key"]))

        (row,) = flushed_rows(admin, 1, api_key=key["token"])
        assert row["prompt_tokens"] > 0 and row["completion_tokens"] > 0
        assert row["spend"] and row["spend"] > 0


def _cut_stream(client: OpenAI) -> str:
    """Stream an answer the emulator cuts after a few chunks; the text that arrived."""
    stream = client.chat.completions.create(
        model=ALIAS, messages=MESSAGES, max_tokens=30, stream=True
    )
    received = ""
    with pytest.raises(openai.APIError):
        for chunk in stream:
            received += "".join(choice.delta.content or "" for choice in chunk.choices)
    return received


def _streamed_usage(client: OpenAI, *, include_usage: bool) -> tuple[int, int] | None:
    """Stream one answer; (prompt, completion) tokens if the client got usage, else None."""
    stream = client.chat.completions.create(
        model=ALIAS,
        messages=MESSAGES,
        max_tokens=11,
        stream=True,
        stream_options={"include_usage": include_usage},
    )
    usage = None
    text = ""
    for chunk in stream:
        text += "".join(choice.delta.content or "" for choice in chunk.choices)
        if chunk.usage is not None:
            usage = (chunk.usage.prompt_tokens, chunk.usage.completion_tokens)
    assert text
    return usage


def _assert_charged(row: dict[str, Any], prompt_tokens: int, completion_tokens: int) -> None:
    assert (row["prompt_tokens"], row["completion_tokens"]) == (prompt_tokens, completion_tokens)
    assert row["spend"] == pytest.approx(catalog_cost(ALIAS, prompt_tokens, completion_tokens))
    assert row["spend"] > 0
    assert row["http_status"] == 200 and row["status"] == "success"
    assert row["model"] == ALIAS and row["model_id"]
