"""Bytes → Records: the only place that knows how terminals and log shippers mangle text.

A record ends at `\\n`, `\\r\\n` or a bare `\\r` (one progress-bar frame). Records empty after
clean-up are skipped, which is also why `\\r\\n` never yields an extra record, even when the two
bytes arrive in different reads: `\\r` and `\\n` are each a terminator and the empty record
between them is dropped. Clean-up is per record and on bytes, so a code point split across reads
survives until its record is complete:

- SageMaker/CloudWatch octal escapes: `#015` is a record break, `#011` → TAB, `#033` → ESC,
  `#010` → backspace (research: log-tailing-anchors.md §8.9);
- ANSI CSI (`ESC[1m`, `ESC[2K`, `ESC[A`) and OSC (`ESC]0;title BEL`) sequences are removed (§8.4);
- backspaces and NULs are dropped: Keras writes `\\b` × width then `\\r`, so the text before the
  backspaces is the frame (§8.1); NUL padding comes from unclean shutdowns (§8.7);
- the bytes are decoded as UTF-8 with `errors="replace"`.

`feed_batch` returns the same records column-wise (`RecordBatch`): the extractor matches a whole
batch as one newline-joined text, and a chunk of ordinary lines is cleaned and decoded in one pass
(see `Framer._frame_block` for why that equals cleaning each line) without building a `Record` per
line. `feed` is `feed_batch(...).records()`.

A record longer than `max_record_bytes` keeps its **tail** (Keras prints `val_*` at the very end
of a multi-megabyte progress line) and is marked `truncated`; memory stays bounded by the cap even
for a line that never ends. A truncated record's `offset` is still where the record began.
`line_no` counts emitted (non-empty) records.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from itertools import accumulate, compress, repeat
from operator import add

from metricwatch.types import Record

DEFAULT_MAX_RECORD_BYTES = 1 << 20

# CSI: ESC [ params intermediates final; OSC: ESC ] ... (BEL | ESC \\);
# any other ESC + one byte; a lone ESC.
_ANSI = re.compile(rb"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)|[@-Z\\-_])?")
# The same for a newline-joined block of records: an OSC body stops at a newline, as it stops at
# the end of a record when records are cleaned one by one (then the ESC ] pair alone is removed).
_ANSI_BLOCK = re.compile(rb"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b\n]*(?:\x07|\x1b\\)|[@-Z\\-_])?")
_CR_ESCAPE = b"#015"


@dataclass(slots=True)
class RecordBatch:
    """Records in column form: what one `feed` completed, without a `Record` object per line.

    Record `i` is `Record(texts[i], offsets[i], ends[i], first_line_no + i, i in truncated)`:
    emitted records are numbered consecutively, so one number gives every `line_no`.
    """

    first_line_no: int
    texts: list[str] = field(default_factory=list)
    offsets: list[int] = field(default_factory=list)
    ends: list[int] = field(default_factory=list)
    truncated: set[int] = field(default_factory=set)

    def __len__(self) -> int:
        return len(self.texts)

    def record(self, i: int) -> Record:
        truncated = i in self.truncated
        return Record(self.texts[i], self.offsets[i], self.ends[i], self.first_line_no + i, truncated)

    def records(self) -> list[Record]:
        return [self.record(i) for i in range(len(self.texts))]

    @classmethod
    def of(cls, records: list[Record]) -> RecordBatch:
        """A batch holding `records` (consecutive line numbers, as a Framer emits them)."""
        first = records[0].line_no if records else 1
        if any(r.line_no != first + i for i, r in enumerate(records)):
            raise ValueError("a RecordBatch needs consecutively numbered records")
        return cls(
            first,
            [r.text for r in records],
            [r.offset for r in records],
            [r.end for r in records],
            {i for i, r in enumerate(records) if r.truncated},
        )


class Framer:
    """Split a byte stream (one file) into cleaned Records.

    Args:
        max_record_bytes: cap on one record's raw bytes (≥ 64); longer records keep their tail.
        offset: file offset of the first byte that will be fed (a checkpoint's `committed`).
        line_no: records already emitted before `offset` (restored with the checkpoint).
    """

    def __init__(
        self, max_record_bytes: int = DEFAULT_MAX_RECORD_BYTES, offset: int = 0, line_no: int = 0
    ) -> None:
        if max_record_bytes < 64:
            raise ValueError(f"max_record_bytes must be >= 64, got {max_record_bytes=}")
        self.max_record_bytes = max_record_bytes
        self.line_no = line_no
        self._committed = offset
        # bytes of the incomplete last record (only its tail once over the cap)
        self._pending = bytearray()
        self._dropped = 0  # bytes cut from the front of the pending record by the cap

    @property
    def committed(self) -> int:
        """File offset just past the last complete record: what a checkpoint may store."""
        return self._committed

    @property
    def pending_bytes(self) -> int:
        """Bytes held for the incomplete last record (bounded by the cap)."""
        return len(self._pending)

    def feed(self, data: bytes) -> list[Record]:
        """Frame `data` (the next bytes of the file); return the records it completed."""
        return self.feed_batch(data).records()

    def feed_batch(self, data: bytes) -> RecordBatch:
        """`feed`, returning the completed records as one RecordBatch."""
        out = RecordBatch(self.line_no + 1)
        if not data:
            return out
        # Both \r and \n are one-byte terminators, so one C-level split finds every record and the
        # positions follow from the lengths.
        parts = data.replace(b"\r", b"\n").split(b"\n")
        if len(parts) > 3 and _CR_ESCAPE not in data and max(map(len, parts)) <= self.max_record_bytes:
            # The usual chunk: the first line may continue the held record, the last one is held,
            # and every line between is an ordinary record, framed in one pass.
            self._frame_parts(parts[:1], out)
            self._frame_block(parts[1:-1], out)
        else:
            self._frame_parts(parts[:-1], out)
        self._hold(parts[-1])
        return out

    def _frame_parts(self, parts: list[bytes], out: RecordBatch) -> None:
        """Frame complete lines one by one (joining the held record, applying the cap and `#015`)."""
        for part in parts:
            start = self._committed
            if self._pending or self._dropped:
                length = self._dropped + len(self._pending) + len(part)
                self._hold(part)
                raw, truncated = bytes(self._pending), self._dropped > 0
                self._pending.clear()
                self._dropped = 0
            else:
                length, raw, truncated = len(part), part, len(part) > self.max_record_bytes
                if truncated:
                    raw = part[-self.max_record_bytes :]
            end = start + length + 1
            self._emit(raw, start, end - 1 - len(raw), end, truncated, out)
            self._committed = end

    def _frame_block(self, parts: list[bytes], out: RecordBatch) -> None:
        """Frame complete lines none of which is held, capped or split by `#015`, in one pass.

        Cleaning the newline-joined block equals cleaning each line: no escape, ANSI sequence
        (`_ANSI_BLOCK` stops OSC bodies at a newline) or deletion spans or creates a newline, and
        UTF-8 decoding resynchronises at every newline (an ASCII byte never continues a sequence).
        So the block's text splits back into exactly one text per line.
        """
        texts = clean(b"\n".join(parts), _ANSI_BLOCK).split("\n")
        # bounds[i] is where line i starts and bounds[i + 1] just past its one-byte terminator.
        bounds = list(accumulate(map(add, map(len, parts), repeat(1)), initial=self._committed))
        # `str.strip` yields "" exactly for the texts `_append` skips (empty or whitespace only),
        # and returns the text itself, uncopied, when there is nothing to strip.
        keep = list(map(str.strip, texts))
        out.texts += compress(texts, keep)
        out.offsets += compress(bounds, keep)
        out.ends += compress(bounds[1:], keep)
        self.line_no = out.first_line_no + len(out.texts) - 1
        self._committed = bounds[-1]

    def flush(self) -> list[Record]:
        """End of stream: emit the held partial record, if any."""
        return self.flush_batch().records()

    def flush_batch(self) -> RecordBatch:
        """`flush`, returning the record (if any) as a RecordBatch."""
        out = RecordBatch(self.line_no + 1)
        if self._pending or self._dropped:
            raw = bytes(self._pending)
            start = self._committed
            end = start + self._dropped + len(raw)
            self._emit(raw, start, end - len(raw), end, self._dropped > 0, out)
            self._committed = end
            self._pending.clear()
            self._dropped = 0
        return out

    def _hold(self, part: bytes) -> None:
        """Append to the pending record, keeping only the last `max_record_bytes` bytes."""
        if not part:
            return
        self._pending += part
        excess = len(self._pending) - self.max_record_bytes
        if excess > 0:
            # bytearray deletes from the front in O(excess): memory and time stay bounded.
            del self._pending[:excess]
            self._dropped += excess

    def _emit(self, raw: bytes, start: int, kept: int, end: int, truncated: bool, out: RecordBatch) -> None:
        """Clean one raw record (split at `#015`) and append the non-empty results.

        `start` is the record's first byte in the file, `kept` the file offset of `raw[0]` (later
        than `start` when the cap cut the head), `end` the offset just past the terminator.
        """
        if _CR_ESCAPE not in raw:
            self._append(raw, start, end, truncated, out)
            return
        pieces = raw.split(_CR_ESCAPE)
        pos = kept
        for j, piece in enumerate(pieces):
            piece_end = end if j == len(pieces) - 1 else pos + len(piece) + len(_CR_ESCAPE)
            self._append(piece, start if j == 0 else pos, piece_end, truncated and j == 0, out)
            pos += len(piece) + len(_CR_ESCAPE)

    def _append(self, raw: bytes, start: int, end: int, truncated: bool, out: RecordBatch) -> None:
        text = clean(raw)
        if text and not text.isspace():
            self.line_no += 1
            if truncated:
                out.truncated.add(len(out.texts))
            out.texts.append(text)
            out.offsets.append(start)
            out.ends.append(end)


def clean(raw: bytes, ansi: re.Pattern[bytes] = _ANSI) -> str:
    """Decode one record: escapes decoded, ANSI/backspace/NUL removed, bad UTF-8 → U+FFFD."""
    if b"#0" in raw:
        raw = raw.replace(b"#011", b"\t").replace(b"#033", b"\x1b").replace(b"#010", b"")
    if b"\x1b" in raw:
        raw = ansi.sub(b"", raw)
    if b"\x08" in raw:
        raw = raw.replace(b"\x08", b"")
    if b"\x00" in raw:
        raw = raw.replace(b"\x00", b"")
    return raw.decode("utf-8", "replace")
