import orjson
import pytest

from tokenway.emulator.config import FaultConfig
from tokenway.emulator.errors import ApiError
from tokenway.emulator.faults import FaultPlan, HeaderPlans, StreamCut, faulty_sse, injected_error

CHUNKS = [{"n": i} for i in range(4)]


async def frames(config: FaultConfig) -> list[bytes]:
    return [frame async for frame in faulty_sse(CHUNKS, config, "openai")]


def test_fail_first_n_fails_exactly_that_many_then_succeeds() -> None:
    plan = FaultPlan(FaultConfig(fail_first_n=2))
    assert [plan.next_fails() for _ in range(4)] == [True, True, False, False]


def test_error_rate_draws_are_reproducible_for_a_seed() -> None:
    def pattern(seed: int) -> list[bool]:
        plan = FaultPlan(FaultConfig(error_rate=0.5, seed=seed))
        return [plan.next_fails() for _ in range(40)]

    assert pattern(1) == pattern(1)
    assert 5 < sum(pattern(1)) < 35
    assert pattern(1) != pattern(2)
    assert not any(FaultPlan(FaultConfig()).next_fails() for _ in range(20))


def test_latency_with_jitter_stays_in_range() -> None:
    plan = FaultPlan(FaultConfig(latency_ms=100, latency_jitter_ms=50))
    delays = [plan.delay_s() for _ in range(50)]
    assert all(0.1 <= d <= 0.15 for d in delays) and len(set(delays)) > 1


def test_header_plans_are_remembered_by_header_text() -> None:
    plans = HeaderPlans()
    header = '{"fail_first_n": 1}'
    assert plans.plan_for(header).next_fails()
    assert not plans.plan_for(header).next_fails()
    with pytest.raises(ApiError) as caught:
        plans.plan_for('{"fail_first_n": "x"}')
    assert caught.value.param == "x-emulator-fault"


@pytest.mark.parametrize("status", [500, 502, 503, 429])
def test_injected_json_errors_carry_the_envelope(status: int) -> None:
    code, headers, body = injected_error(FaultConfig(error_status=status), "openai")
    assert code == status
    assert set(orjson.loads(body)["error"]) == {"message", "type", "param", "code"}
    assert (("retry-after", "1") in headers) == (status in (429, 503))


def test_injected_html_and_empty_bodies() -> None:
    _, headers, body = injected_error(FaultConfig(error_status=502, error_body="html"), "openai")
    assert ("content-type", "text/html; charset=utf-8") in headers and b"502 Bad Gateway" in body
    assert injected_error(FaultConfig(error_body="empty"), "openai")[2] == b""


async def test_a_healthy_stream_ends_with_done() -> None:
    sent = await frames(FaultConfig())
    assert sent[-1] == b"data: [DONE]\n\n" and len(sent) == 5


async def test_stream_error_after_n_sends_an_error_event_and_no_done() -> None:
    sent = await frames(FaultConfig(stream_error_after=2))
    assert len(sent) == 3 and sent[-1].startswith(b"event: error\ndata: ")
    assert orjson.loads(sent[-1].split(b"data: ", 1)[1])["error"]["type"] == "server_error"


async def test_stream_cut_after_n_raises_after_n_frames() -> None:
    received: list[bytes] = []
    with pytest.raises(StreamCut):
        async for frame in faulty_sse(CHUNKS, FaultConfig(stream_cut_after=3), "openai"):
            received.append(frame)
    assert len(received) == 3


async def test_a_fault_point_past_the_end_still_strikes_before_done() -> None:
    sent = await frames(FaultConfig(stream_error_after=99))
    assert len(sent) == 5 and sent[-1].startswith(b"event: error")
