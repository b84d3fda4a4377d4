"""MLLP frames: however TCP cuts or joins the bytes, each message comes out once."""

from ingest.mllp import FrameReader

MESSAGE = b"MSH|^~\\&|HIS|HOSP|||20250301||ADT^A01|C1|P|2.5\rPID|1||P1\r"


def _framed(body: bytes = MESSAGE) -> bytes:
    return b"\x0b" + body + b"\x1c\x0d"


def test_it_reads_a_message_fed_one_byte_at_a_time():
    reader = FrameReader()
    frames = []
    for byte in _framed():
        frames += reader.feed(bytes([byte]))
    assert [(f.kind, f.data) for f in frames] == [("message", MESSAGE)]


def test_it_reads_several_messages_from_one_read():
    frames = FrameReader().feed(_framed() * 3)
    assert [f.kind for f in frames] == ["message"] * 3


def test_it_drops_garbage_between_frames_and_reads_the_next_message():
    frames = FrameReader().feed(_framed() + b"hello there\r\n" + _framed())
    assert [f.kind for f in frames] == ["message", "garbage", "message"]


def test_it_reports_a_message_without_end_block_and_reads_the_next_one():
    frames = FrameReader().feed(b"\x0b" + MESSAGE + _framed())
    assert [(f.kind, f.data) for f in frames] == [("cut_short", MESSAGE), ("message", MESSAGE)]


def test_it_reports_an_open_frame_when_the_connection_closes():
    reader = FrameReader()
    assert reader.feed(b"\x0b" + MESSAGE[:10]) == []
    assert [f.kind for f in reader.close()] == ["cut_short"]


def test_it_takes_an_end_block_without_its_carriage_return():
    frames = FrameReader().feed(b"\x0b" + MESSAGE + b"\x1c" + _framed())
    assert [f.kind for f in frames] == ["message", "message"]
