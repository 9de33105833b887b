"""The validators themselves, for values JSON cannot carry but other callers could."""

from __future__ import annotations

import math

import pytest

from tokenway.errors import BadRequestError
from tokenway.proxy.admin.validation import (
    FIELD_SCHEMAS,
    INT32_MAX,
    INT64_MAX,
    count,
    end_instant,
    model_aliases,
    money,
    positive_int,
    small_count,
)


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf, -0.01])
def test_budgets_are_finite_and_not_negative(value: float) -> None:
    with pytest.raises(BadRequestError) as info:
        money("max_budget", value)
    assert info.value.param == "max_budget"


def test_counts_stop_where_their_columns_do() -> None:
    assert small_count("rpm_limit", INT32_MAX) == INT32_MAX
    assert count("tpm_limit", INT64_MAX) == INT64_MAX
    for check, value in ((small_count, INT32_MAX + 1), (count, INT64_MAX + 1)):
        with pytest.raises(BadRequestError):
            check("x", value)


@pytest.mark.parametrize("text", ["²", "٣", "1_000", " 1", "+1", "0"])
def test_page_numbers_are_plain_ascii_digits(text: str) -> None:
    with pytest.raises(BadRequestError):
        positive_int("page", text)


def test_the_last_day_a_datetime_can_end_is_the_one_before_9999_12_31() -> None:
    assert end_instant("end_date", "9999-12-30").year == 9999
    with pytest.raises(BadRequestError) as info:
        end_instant("end_date", "9999-12-31")
    assert info.value.param == "end_date"


def test_a_models_list_takes_any_names_as_litellm_does() -> None:
    check = model_aliases(["llama", "inference/*"])
    names = ["llama", "inference/*", "inference/x/y", "gpt-4o", "all-proxy-models"]
    assert check("models", names) == names  # names not served: warned about in the answer
    with pytest.raises(BadRequestError):
        check("models", ["", 3])
    assert FIELD_SCHEMAS[check]["items"]["type"] == "string"
