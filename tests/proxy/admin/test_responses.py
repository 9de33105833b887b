"""Records as JSON: a time stored out of ``datetime``'s range does not break a listing."""

from __future__ import annotations

import math

from tokenway.proxy.admin.responses import iso, key_json
from tokenway.store.base import KeyRecord, Limits


def test_times_in_range_are_iso_8601_utc() -> None:
    assert iso(0) == "1970-01-01T00:00:00+00:00"
    assert iso(None) is None


def test_times_out_of_range_show_as_the_end_of_the_range() -> None:
    # now + "99999999999d", as stored before durations were bounded
    assert iso(1.7e9 + 8.64e15) == "9999-12-31T23:59:59.999999+00:00"
    assert iso(-8.64e15) == "0001-01-01T00:00:00+00:00"
    assert iso(math.inf) == "9999-12-31T23:59:59.999999+00:00"
    assert iso(math.nan) is None


def test_a_key_with_an_expiry_past_year_9999_is_still_shown() -> None:
    record = KeyRecord(
        "h" * 64, "sk-...abcd", expires_at=8.64e15, limits=Limits(budget_reset_at=1e300)
    )
    shown = key_json(record)
    assert shown["expires"].startswith("9999-12-31")
    assert shown["budget_reset_at"].startswith("9999-12-31")
