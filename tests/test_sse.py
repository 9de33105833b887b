from tokenway.sse import SSEDecoder


def test_events_split_across_reads_and_line_endings() -> None:
    decoder = SSEDecoder()
    raw = b"data: one\r\n\r\n: comment\nevent: error\ndata: a\ndata: b\n\ndata: [DONE]\r"
    events = []
    for byte in range(len(raw)):
        events += decoder.feed(raw[byte : byte + 1])
    events += decoder.feed(b"\r")
    assert [(e.event, e.data) for e in events] == [
        (None, b"one"),
        ("error", b"a\nb"),
        (None, b"[DONE]"),
    ]


def test_flush_returns_an_unterminated_last_event() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"data: x") == []
    assert [e.data for e in decoder.flush()] == [b"x"]
    assert decoder.flush() == []


def test_field_without_space_and_comments_only() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b": keepalive\n\n") == []
    assert [e.data for e in decoder.feed(b"data:x\n\n")] == [b"x"]
