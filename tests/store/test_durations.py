"""``parse_duration``: the syntax of key expiry and budget windows."""

from __future__ import annotations

import pytest

from tokenway.store.durations import parse_duration


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("30s", 30.0),
        ("15m", 900.0),
        ("1h", 3600.0),
        ("1d", 86400.0),
        ("30d", 2_592_000.0),
        ("2w", 1_209_600.0),
        (" 1.5h ", 5400.0),
        ("10 M", 600.0),
        ("36500d", 3_153_600_000.0),  # the longest: 100 years
    ],
)
def test_durations_in_seconds(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize(
    "text", ["", "30", "d", "1y", "-1d", "1h30m", "monthly", "0s", "36501d", "99999999999d"]
)
def test_anything_else_is_refused_with_the_expected_form(text: str) -> None:
    with pytest.raises(ValueError, match="invalid duration") as info:
        parse_duration(text)
    assert repr(text) in str(info.value)


def test_a_duration_too_long_for_any_datetime_is_refused() -> None:
    # float("1" * 400) is inf: refused, not stored as an expiry no datetime can show.
    with pytest.raises(ValueError, match="at most 100 years"):
        parse_duration("1" * 400 + "s")
