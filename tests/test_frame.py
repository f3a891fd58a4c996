"""Framing: bytes → Records, with hand-built byte strings from the hazards in log-tailing-anchors §8."""

from __future__ import annotations

import tracemalloc

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from metricwatch.frame import Framer


def texts(records: list) -> list[str]:
    return [r.text for r in records]


def feed_all(chunks: list[bytes], **kwargs: int) -> tuple[Framer, list]:
    framer = Framer(**kwargs)
    out = []
    for chunk in chunks:
        out += framer.feed(chunk)
    return framer, out


def test_records_end_at_lf_crlf_and_bare_cr() -> None:
    _, records = feed_all([b"a\nb\r\nc\rd\n"])
    assert texts(records) == ["a", "b", "c", "d"]
    # `b` ends just past its \r; the \n after it frames an empty record, which is skipped
    assert [(r.offset, r.end) for r in records] == [(0, 2), (2, 4), (5, 7), (7, 9)]
    assert [r.line_no for r in records] == [1, 2, 3, 4]


def test_crlf_split_across_feeds_gives_no_extra_record() -> None:
    framer, records = feed_all([b"loss: 1\r", b"\nloss: 2\r\n"])
    assert texts(records) == ["loss: 1", "loss: 2"]
    assert framer.committed == 18  # 8 + 10 bytes, all framed


def test_partial_line_is_held_until_complete_and_committed_stays_behind() -> None:
    framer = Framer()
    assert framer.feed(b"epoch 1 val_lo") == []
    assert framer.committed == 0
    records = framer.feed(b"ss=0.4123\n")
    assert texts(records) == ["epoch 1 val_loss=0.4123"]
    assert framer.committed == 24


def test_flush_emits_the_held_partial_line() -> None:
    framer = Framer()
    framer.feed(b"a\nno newline")
    records = framer.flush()
    assert texts(records) == ["no newline"]
    assert (records[0].offset, records[0].end) == (2, 12)
    assert framer.committed == 12
    assert framer.flush() == []


def test_keras_progress_bar_frames_lose_backspaces_and_ansi() -> None:
    bar = "\u2501".encode()
    data = (
        b"Epoch 1/2\n\r\x1b[1m1/4\x1b[0m \x1b[32m" + bar * 3 + b"\x1b[0m \x1b[1m0s\x1b[0m"
        b" 10ms/step - loss: 1.0000 - accuracy: 0.6000" + b"\x08" * 71 + b"\r\x1b[1m4/4\x1b[0m"
        b" 10ms/step - loss: 0.2000 - accuracy: 0.9000 - val_loss: 0.7000 - val_accuracy: 0.7000\n"
    )
    _, records = feed_all([data])
    assert texts(records) == [
        "Epoch 1/2",
        "1/4 ━━━ 0s 10ms/step - loss: 1.0000 - accuracy: 0.6000",
        "4/4 10ms/step - loss: 0.2000 - accuracy: 0.9000 - val_loss: 0.7000 - val_accuracy: 0.7000",
    ]


def test_osc_title_and_erase_line_are_removed() -> None:
    _, records = feed_all([b"\x1b]0;my title\x07\x1b[2Kloss=1\n\x1b[34mINFO\x1b[0m x\n"])
    assert texts(records) == ["loss=1", "INFO x"]


def test_sagemaker_escapes_are_decoded() -> None:
    line = b"[0]#011train-rmse:19.6015#011validation-rmse:19.9713\n"
    _, records = feed_all([line])
    assert texts(records) == ["[0]\ttrain-rmse:19.6015\tvalidation-rmse:19.9713"]


def test_escaped_cr_and_backspace_split_frames() -> None:
    data = b"[1,0]<stdout>:#010#010#015 10/20 - loss: 0.5#010#010#015 20/20 - loss: 0.4\n"
    _, records = feed_all([data])
    assert texts(records) == ["[1,0]<stdout>:", " 10/20 - loss: 0.5", " 20/20 - loss: 0.4"]
    # offsets of the pieces point at their bytes in the file
    assert data[records[1].offset : records[1].offset + 4] == b" 10/"
    assert records[-1].end == len(data)


def test_escaped_esc_becomes_ansi_and_is_stripped() -> None:
    _, records = feed_all([b"#033[J1           0.817978    0.65258\n"])
    assert texts(records) == ["1           0.817978    0.65258"]


def test_multibyte_character_split_across_feeds_survives() -> None:
    _, records = feed_all([b"acc \xe2\x94", b"\x81 0.5\n"])
    assert texts(records) == ["acc ━ 0.5"]


def test_invalid_utf8_is_replaced_not_fatal() -> None:
    _, records = feed_all([b"loss: \xff\xfe 0.5\n"])
    assert texts(records) == ["loss: \ufffd\ufffd 0.5"]


def test_empty_and_blank_records_are_skipped_and_not_counted() -> None:
    _, records = feed_all([b"\n\n   \r\x1b[0m\na\n\x00\x00\nb\n"])
    assert texts(records) == ["a", "b"]
    assert [r.line_no for r in records] == [1, 2]


def test_resume_from_checkpoint_continues_offsets_and_line_numbers() -> None:
    data = b"one\ntwo\nthree\n"
    first = Framer()
    first.feed(data[:6])
    resumed = Framer(offset=first.committed, line_no=first.line_no)
    records = resumed.feed(data[first.committed :])
    assert texts(records) == ["two", "three"]
    assert [(r.offset, r.line_no) for r in records] == [(4, 2), (8, 3)]


def test_over_long_record_keeps_its_tail() -> None:
    line = b"x" * 500 + b" - val_loss: 0.7000\n"
    _, records = feed_all([line[i : i + 64] for i in range(0, len(line), 64)], max_record_bytes=100)
    (record,) = records
    assert record.truncated
    assert record.text.endswith(" - val_loss: 0.7000") and len(record.text) == 100
    assert (record.offset, record.end) == (0, len(line))


def test_over_long_record_in_one_feed_keeps_its_tail() -> None:
    line = b"y" * 300 + b"val_loss: 1\nnext\n"
    _, records = feed_all([line], max_record_bytes=64)
    assert records[0].truncated and records[0].text.endswith("val_loss: 1")
    assert records[0].end == 312 and records[1].text == "next" and not records[1].truncated


def test_cap_must_be_sane() -> None:
    with pytest.raises(ValueError, match="max_record_bytes"):
        Framer(max_record_bytes=0)


def test_50_mb_line_without_newline_uses_bounded_memory() -> None:
    """A 50 MB line fed in 64 KiB chunks: peak Python memory stays near the 1 MiB cap."""
    chunk = (b"\x08" * 40 + b"1/9 - loss: 0.5 ") * (65536 // 56)
    framer = Framer()
    tracemalloc.start()
    fed = 0
    while fed < 50 * 1024 * 1024:
        assert framer.feed(chunk) == []
        fed += len(chunk)
    framer.feed(b" - val_loss: 0.25")
    records = framer.flush()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert framer.pending_bytes == 0
    assert records[0].truncated and records[0].text.endswith("val_loss: 0.25")
    assert records[0].end == fed + len(b" - val_loss: 0.25")
    assert peak < 8 * 1024 * 1024, f"peak {peak} bytes"


# ------------------------------------------------------------------ batch framing ≡ line by line

HAZARDS = [
    b"a",
    b"7",
    b" ",
    b"\t",
    b"\n",
    b"\r",
    b"\r\n",
    b"#011",
    b"#015",
    b"#033",
    b"#010",
    b"#0",
    b"\x1b",
    b"\x1b[1m",
    b"\x1b]0;title",
    b"\x07",
    b"\x1b\\",
    b"\x08",
    b"\x00",
    "\u2501".encode(),
    b"\xe2\x94",
    b"\xff",
    b"\x1c",
    "\u3000".encode(),
    b"val_loss: 0.5" * 6,
]


@given(
    st.lists(st.sampled_from(HAZARDS), max_size=80),
    st.sampled_from([64, 100, 1 << 20]),
    st.integers(0, 1000),
)
@settings(max_examples=300, deadline=None)
def test_a_whole_chunk_frames_exactly_as_byte_by_byte_feeding(
    pieces: list[bytes], cap: int, offset: int
) -> None:
    """Fed byte by byte, every line takes the one-record-at-a-time path; fed whole, the lines of
    the chunk are cleaned as one block. Records, offsets, line numbers and checkpoints must agree."""
    data = b"".join(pieces)
    slow = Framer(cap, offset, 3)
    expected = [r for i in range(len(data)) for r in slow.feed(data[i : i + 1])] + slow.flush()
    fast = Framer(cap, offset, 3)
    got = fast.feed(data) + fast.flush()
    assert got == expected
    assert (fast.committed, fast.line_no) == (slow.committed, slow.line_no)


def test_an_unterminated_osc_does_not_reach_into_the_next_line_of_a_block() -> None:
    # Per line, `ESC ]` without BEL is dropped as a two-byte sequence and the BEL on the next line
    # stays; cleaning the block as a whole must not join the two into one OSC sequence.
    data = b"first\na\x1b]0;t\nb\x07c\nlast\n"
    assert texts(Framer().feed(data)) == ["first", "a0;t", "b\x07c", "last"]


def test_feed_batch_holds_the_same_records_as_feed() -> None:
    data = b"Epoch 1/2\n\n  \nloss: 1\r\nloss: 2\rtail"
    batch = Framer().feed_batch(data)
    assert batch.records() == Framer().feed(data)
    assert (len(batch), batch.first_line_no, batch.texts) == (3, 1, ["Epoch 1/2", "loss: 1", "loss: 2"])
