"""The OpenAI dialect, tested with recorded payloads in and values out (no network)."""

from pathlib import Path

import pytest

from tokenway.errors import (
    APIConnectionError,
    AuthenticationError,
    BadGatewayError,
    ContextWindowExceededError,
    InternalServerError,
    NotFoundError,
    PaymentRequiredError,
    RateLimitError,
    ServiceUnavailableError,
    Timeout,
)
from tokenway.providers.base import EMBEDDINGS_PATH, TEXT_COMPLETIONS_PATH, Deployment
from tokenway.providers.openai_compatible import parse_retry_after
from tokenway.providers.registry import get_provider, get_provider_spec
from tokenway.streaming import stream_chunk_builder
from tokenway.types import ChatCompletionChunk, TextCompletionChunk

FIXTURES = Path(__file__).parent.parent / "fixtures"
provider = get_provider(get_provider_spec("inference"))


def test_build_request_targets_chat_completions_with_bearer_key() -> None:
    spec = get_provider_spec("inference")
    deployment = Deployment(spec, "m/x/fp-16", "http://127.0.0.1:9/v1/", "k-1", {"x-extra": "1"})
    req = provider.build_request({"model": "m/x/fp-16", "stream": True}, deployment)
    assert req.url == "http://127.0.0.1:9/v1/chat/completions"
    headers = dict(req.headers)
    assert headers["authorization"] == "Bearer k-1"
    assert headers["accept"] == "text/event-stream"
    assert headers["x-extra"] == "1"
    assert req.body == b'{"model":"m/x/fp-16","stream":true}'


@pytest.mark.parametrize("path", [EMBEDDINGS_PATH, TEXT_COMPLETIONS_PATH])
def test_build_request_targets_the_endpoint_it_is_given(path: str) -> None:
    spec = get_provider_spec("inference")
    deployment = Deployment(spec, "m", "http://127.0.0.1:9/v1", "k-1")
    req = provider.build_request({"model": "m", "input": "x"}, deployment, path)
    assert req.url == "http://127.0.0.1:9/v1" + path
    assert dict(req.headers)["accept"] == "application/json"


def test_parse_json_requires_the_endpoint_key() -> None:
    good = b'{"object":"list","data":[{"embedding":[0.5]}],"usage":{"prompt_tokens":1}}'
    assert provider.parse_json(200, {}, good, "data")["data"][0]["embedding"] == [0.5]
    with pytest.raises(InternalServerError, match="without 'data'") as info:
        provider.parse_json(200, {}, b'{"choices":[]}', "data")
    assert info.value.status_code == 502


def test_stream_decoder_makes_the_chunk_type_it_is_given() -> None:
    decoder = provider.stream_decoder(TextCompletionChunk)
    frame = b'data: {"object":"text_completion","choices":[{"index":0,"text":"Hi"}]}\n\n'
    (chunk,) = decoder.feed(frame + b"data: [DONE]\n\n")
    assert isinstance(chunk, TextCompletionChunk) and chunk.choices[0].text == "Hi"
    assert decoder.done


def test_parse_response_keeps_every_upstream_field() -> None:
    body = (FIXTURES / "completion.json").read_bytes()
    response = provider.parse_response(200, {}, body)
    assert response.id == "chatcmpl-abc"
    assert response.created == 1727346182
    assert response.model == "meta-llama/llama-3.1-8b-instruct/fp-16"
    assert response.choices[0].message.content == "Paris."
    assert response.usage is not None and response.usage.total_tokens == 42
    assert response.model_dump()["choices"][0]["stop_reason"] is None
    assert "Paris." in repr(response)


def test_non_json_success_body_is_a_gateway_error() -> None:
    with pytest.raises(InternalServerError, match="non-JSON body"):
        provider.parse_response(200, {}, b"<html>oops</html>")


@pytest.mark.parametrize(
    ("status", "body", "cls", "message"),
    [
        (401, b'{"error":{"message":"Invalid API key provided.","type":"invalid_request_error",'
         b'"param":null,"code":"invalid_api_key"}}', AuthenticationError, "INFERENCE_API_KEY"),
        (402, b'{"error":{"message":"Insufficient credits.","type":"insufficient_quota"}}',
         PaymentRequiredError, "Insufficient credits."),
        (404, b'{"error":{"message":"The model `x` does not exist.","code":"model_not_found"}}',
         NotFoundError, "does not exist"),
        (400, b'{"error":{"message":"This model\'s maximum context length is 16384 tokens.",'
         b'"type":"BadRequestError","param":null,"code":400}}', ContextWindowExceededError,
         "maximum context length"),
        (400, b'{"object":"error","message":"maximum context length exceeded","code":400}',
         ContextWindowExceededError, "maximum context length"),
        (429, b'{"error":"slow down"}', RateLimitError, "slow down"),
        (500, b"<html><body>Internal error</body></html>", InternalServerError, "non-JSON"),
        (502, b"", BadGatewayError, "empty body"),
        (503, b'{"detail":"overloaded"}', ServiceUnavailableError, "overloaded"),
        (504, b"", Timeout, "504"),
    ],
)  # fmt: skip
def test_map_error_classifies_by_status_then_body(
    status: int, body: bytes, cls: type[Exception], message: str
) -> None:
    error = provider.map_error(status, {"retry-after": "3"}, body)
    assert type(error) is cls
    assert message in error.message
    assert error.retry_after == 3.0


def test_error_envelope_keeps_four_keys() -> None:
    error = provider.map_error(404, {}, b'{"error":{"message":"no","param":"model","code":"x"}}')
    assert error.to_dict() == {
        "error": {"message": "no", "type": "invalid_request_error", "param": "model", "code": "x"}
    }


def test_retry_after_forms() -> None:
    assert parse_retry_after({"retry-after-ms": "1500"}) == 1.5
    assert parse_retry_after({"retry-after": "2"}) == 2.0
    assert parse_retry_after({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}) == 0.0
    assert parse_retry_after({"retry-after": "soon"}) is None
    assert parse_retry_after({}) is None


def test_stream_decoder_rebuilds_tool_call_from_fragments() -> None:
    raw = (FIXTURES / "stream_tool_call.sse").read_bytes()
    decoder = provider.stream_decoder(ChatCompletionChunk)
    chunks = []
    for i in range(0, len(raw), 7):  # arbitrary split points
        chunks.extend(decoder.feed(raw[i : i + 7]))
    chunks.extend(decoder.close())
    assert len(chunks) == 5
    assert all(c.created == 1700000000 for c in chunks)
    full = stream_chunk_builder(chunks)
    call = full.choices[0].message.tool_calls
    assert call is not None
    assert call[0].function.name == "get_weather"
    assert call[0].function.arguments == '{"city": "Paris"}'
    assert full.choices[0].finish_reason == "tool_calls"
    assert full.usage is not None and full.usage.total_tokens == 60


def test_stream_without_done_raises() -> None:
    decoder = provider.stream_decoder(ChatCompletionChunk)
    decoder.feed(b'data: {"id":"1","choices":[]}\n\n')
    with pytest.raises(APIConnectionError, match="before \\[DONE\\]"):
        decoder.close()


def test_error_frames_inside_a_stream_raise() -> None:
    frame = b'event: error\ndata: {"error":{"message":"boom","type":"server_error"}}\n\n'
    with pytest.raises(InternalServerError, match="boom"):
        provider.stream_decoder(ChatCompletionChunk).feed(frame)
    with pytest.raises(RateLimitError, match="slow"):
        provider.stream_decoder(ChatCompletionChunk).feed(
            b'data: {"error":{"message":"slow","code":429}}\n\n'
        )


def test_chunks_read_before_an_error_frame_are_delivered_first() -> None:
    decoder = provider.stream_decoder(ChatCompletionChunk)
    good = b'data: {"id":"1","choices":[{"index":0,"delta":{"content":"Hi"}}]}\n\n'
    frame = b'event: error\ndata: {"error":{"message":"boom","type":"server_error"}}\n\n'
    chunks = decoder.feed(good + frame)
    assert [c.choices[0].delta.content for c in chunks] == ["Hi"]
    with pytest.raises(InternalServerError, match="boom"):
        decoder.feed(b"")
    with pytest.raises(InternalServerError, match="boom"):
        decoder.close()


def test_an_unterminated_last_chunk_is_delivered_before_the_cut_is_reported() -> None:
    decoder = provider.stream_decoder(ChatCompletionChunk)
    assert decoder.feed(b'data: {"id":"1","choices":[]}') == []
    assert len(decoder.close()) == 1
    with pytest.raises(APIConnectionError, match="before \\[DONE\\]"):
        decoder.close()
