"""End users as a client of the real proxy sees them, on SQLite and PostgreSQL: the
request's ``user`` is checked against its record (blocked, budget, rate limits) whatever
key sends it, and every spend row names it, with the request's metadata, the answer's id
and the key's organization."""

from __future__ import annotations

from pathlib import Path

import openai
import pytest
from tests.proxy.conftest import MASTER_KEY
from tests.proxy.virtual_key_helpers import (
    ALIAS,
    FAST_FLUSH,
    MESSAGES,
    STORES,
    Management,
    flushed_rows,
    keyed_proxy,
    sdk,
    store_url,
    wait_for,
)

from tokenway.emulator import Emulator

pytestmark = pytest.mark.usefixtures("clean_emulator")


@pytest.fixture(params=STORES)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return store_url(request, tmp_path)


def _ask(client: openai.OpenAI, user: str | None, **fields: object) -> str:
    extra = {"user": user} if user is not None else {}
    answer = client.chat.completions.create(
        model=ALIAS, messages=MESSAGES, max_tokens=4, **extra, **fields
    )  # type: ignore[call-overload]
    return str(answer.id)


def test_a_blocked_end_user_is_refused_until_unblocked(
    emulator: Emulator, database_url: str
) -> None:
    with keyed_proxy(emulator, database_url) as proxy:
        admin = Management(proxy)
        client = sdk(proxy, admin.new_key()["key"])
        _ask(client, "alice")  # no record: not limited
        assert admin.post("/end_user/block", {"user_ids": ["alice"]}).status == 200
        for sender in (client, sdk(proxy, MASTER_KEY)):  # the master key's requests too
            with pytest.raises(openai.PermissionDeniedError) as refused:
                _ask(sender, "alice")
            assert refused.value.code == "end_user_blocked"
        _ask(client, "bob")  # another end user, same key
        _ask(client, None)
        admin.post("/end_user/unblock", {"user_ids": ["alice"]})
        _ask(client, "alice")


def test_an_end_users_tpm_limit_holds_whatever_key_sends(
    emulator: Emulator, database_url: str
) -> None:
    with keyed_proxy(emulator, database_url) as proxy:
        admin = Management(proxy)
        admin.post("/budget/new", {"budget_id": "free", "tpm_limit": 2})
        admin.post("/end_user/new", {"user_id": "carl", "budget_id": "free"})
        client = sdk(proxy, MASTER_KEY)
        _ask(client, "carl")  # a window with room: admitted, then its tokens count
        with pytest.raises(openai.RateLimitError) as refused:
            _ask(sdk(proxy, admin.new_key()["key"]), "carl")
        assert refused.value.code == "tpm_limit_exceeded"
        assert "end user 'carl'" in refused.value.message
        _ask(client, "dan")


def test_an_end_users_budget_is_spent_by_its_requests(
    emulator: Emulator, database_url: str
) -> None:
    with keyed_proxy(emulator, database_url, **FAST_FLUSH) as proxy:
        admin = Management(proxy)
        admin.post("/end_user/new", {"user_id": "eve", "max_budget": 1e-7})
        client = sdk(proxy, MASTER_KEY)
        _ask(client, "eve")
        with pytest.raises(openai.BadRequestError) as refused:
            _ask(client, "eve")
        assert "Budget has been exceeded!" in refused.value.message
        assert "end user 'eve'" in refused.value.message
        spent = wait_for(
            lambda: (
                info
                if (info := admin.get("/end_user/info", end_user_id="eve").body)["spend"] > 0
                else None
            )
        )
        assert spent["spend"] > 1e-7


def test_rows_name_the_end_user_the_metadata_the_answer_and_the_organization(
    emulator: Emulator, database_url: str
) -> None:
    with keyed_proxy(emulator, database_url, **FAST_FLUSH) as proxy:
        admin = Management(proxy)
        org = admin.post("/organization/new", {"organization_alias": "Acme"}).body
        team = admin.post("/team/new", {"organization_id": org["organization_id"]}).body
        key = admin.new_key(team_id=team["team_id"])["key"]
        answer_id = _ask(sdk(proxy, key), "fay", metadata={"run": "nightly"})
        [row] = flushed_rows(admin, 1, request_id=answer_id)
        assert row["end_user"] == "fay" and row["response_id"] == answer_id
        assert row["team_id"] == team["team_id"]
        assert row["organization_id"] == org["organization_id"]
        assert row["metadata"]["run"] == "nightly"
        assert row["metadata"]["user_api_key_org_id"] == org["organization_id"]
        found = wait_for(
            lambda: (
                o if (o := admin.get("/organization/info", **org_id(org)).body)["spend"] else None
            )
        )
        assert found["spend"] == row["spend"]


def org_id(org: dict[str, str]) -> dict[str, str]:
    return {"organization_id": org["organization_id"]}
