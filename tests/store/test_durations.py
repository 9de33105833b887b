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
    ],
)
def test_durations_in_seconds(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "30", "d", "1y", "-1d", "1h30m", "monthly", "0s"])
def test_anything_else_is_refused_with_the_expected_form(text: str) -> None:
    with pytest.raises(ValueError, match="invalid duration") as info:
        parse_duration(text)
    assert repr(text) in str(info.value)
