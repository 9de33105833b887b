import re
from typing import Any

from tokenway.emulator.tokens import count_tokens, cut_after_tokens, prompt_tokens, token_ends


def test_words_count_in_runs_of_four_characters_and_punctuation_counts_alone() -> None:
    assert count_tokens("Hello, world!") == 6  # Hell o , worl d !
    assert count_tokens("") == 0
    assert count_tokens("   \n\t ") == 0
    assert count_tokens("abcd") == 1
    assert count_tokens("abcde") == 2


def test_count_is_a_close_upper_bound_of_non_whitespace_characters_over_four() -> None:
    text = "The quick brown fox jumps over the lazy dog; then it rests, quietly."
    non_space = len(re.sub(r"\s", "", text))
    assert non_space / 4 <= count_tokens(text) <= non_space


def test_cut_after_tokens_keeps_a_prefix_of_exactly_that_many_tokens() -> None:
    text = "Bright gardens follow the river."
    for limit in range(count_tokens(text) + 2):
        cut = cut_after_tokens(text, limit)
        assert text.startswith(cut)
        assert count_tokens(cut) == min(limit, count_tokens(text))
    assert token_ends("ab cd") == [2, 5]


def test_prompt_tokens_count_each_message_text_and_tool_call_plus_overheads() -> None:
    messages: list[dict[str, Any]] = [
        {"role": "system", "content": "Be brief."},  # Be brie f . → 4
        {"role": "user", "content": [{"type": "text", "text": "Hi"}]},  # 1
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {"id": "c", "type": "function", "function": {"name": "f", "arguments": "{}"}}
            ],
        },  # f { } → 3
    ]
    assert prompt_tokens(messages) == 3 + (4 + 4) + (4 + 1) + (4 + 3)


def test_tools_add_the_tokens_of_their_json() -> None:
    messages = [{"role": "user", "content": "Hi"}]
    tools = [{"type": "function", "function": {"name": "get_weather"}}]
    without = prompt_tokens(messages)
    assert prompt_tokens(messages, tools) > without
