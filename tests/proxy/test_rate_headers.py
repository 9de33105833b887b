from tokenway.limits.window import Quota, RateState
from tokenway.proxy.accounting.rate_headers import rate_header_block, rate_headers


def test_the_header_block_says_what_the_header_list_says() -> None:
    states = [RateState(limit_requests=10, remaining_requests=4, reset_requests=60.2)]
    states.append(RateState(limit_tokens=900, remaining_tokens=850, reset_tokens=3.0))
    both = RateState(limit_requests=7, remaining_requests=6, reset_requests=61.0)
    both.limit_tokens, both.remaining_tokens, both.reset_tokens = 10**15, 10**15 - 5, 0.5
    states.append(both)
    for state in states:
        lines = rate_header_block(state.headroom()).decode("latin-1").split("\r\n")
        assert lines.pop() == ""  # each line ends with CRLF
        assert [tuple(line.split(": ")) for line in lines] == rate_headers(state.headroom())
    assert rate_header_block(RateState().headroom()) == b""


def test_rate_headers_format_limits_and_seconds() -> None:
    state = RateState(limit_requests=10**12, remaining_requests=5, reset_requests=60.2)
    state.limit_tokens, state.remaining_tokens, state.reset_tokens = 100, -3, 3.5
    assert rate_headers(state.headroom()) == [
        ("x-ratelimit-limit-requests", "1000000000000"),
        ("x-ratelimit-remaining-requests", "5"),
        ("x-ratelimit-reset-requests", "60s"),  # capped: a per-minute limit
        ("x-ratelimit-limit-tokens", "100"),
        ("x-ratelimit-remaining-tokens", "0"),
        ("x-ratelimit-reset-tokens", "4s"),  # rounded up
    ]
    assert Quota("q", "q").rpm is None
