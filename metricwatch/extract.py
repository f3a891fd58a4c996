"""Records → settled per-epoch Observations, and a streaming whole-file helper.

Which value counts (issue 2, "several values of one metric within one epoch") is the pack's `settle`
policy. With `next` it is the **last** value seen within the epoch, emitted when the epoch closes: a
later epoch is seen for the job, or `finish()` is called. With `match` (line-numbered epochs printed
once each) the first value settles as soon as it is read and later repeats in the same epoch are
ignored, so decisions wait for nothing. With `count` epochs every emission is its own epoch.

An epoch counter that goes backwards (a job restarted into the same log, Keras `fit` called again)
starts a new attempt; earlier attempts are kept. With a `header` source, records before the first
header belong to epoch 1: Keras 3 prints no `Epoch 1/1` header when epochs=1.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import accumulate, repeat
from operator import add
from pathlib import Path

from metricwatch.definitions import (
    DEFAULT_TIMEOUT,
    CompiledDefinition,
    MetricDefinition,
    compile_definition,
    parse_number,
)
from metricwatch.errors import InputError
from metricwatch.frame import DEFAULT_MAX_RECORD_BYTES, Framer, RecordBatch
from metricwatch.packs import Pack
from metricwatch.types import Observation, Record

CHUNK_BYTES = 1 << 20


@dataclass(frozen=True, slots=True)
class Problem:
    """A value that could not be read: reported to the user, never turned into a number."""

    job: str
    line_no: int
    offset: int
    definition: str  # metric name, or "epoch"
    message: str
    text: str = ""  # the captured text, when there was one

    def __str__(self) -> str:
        return f"{self.job}:{self.line_no}: {self.definition}: {self.message}"


class Extractor:
    """Feed one job's records in order; collect settled observations and problems.

    `feed` takes one record; `feed_batch` takes a Framer's RecordBatch and gives exactly what
    feeding its records one by one gives, but runs each regex once over the batch's records joined
    by `\n` (one C-level scan instead of a Python call per record and regex), so only the matches
    cost Python work. Matches are mapped back to records by position; a regex that `joinable`
    cannot vouch for, a match that crosses a record boundary, and a scan that times out fall back
    to matching record by record, so the results never depend on the path taken.

    Captures are collected in a dict keyed `record index * slots + slot`, where slot 0 is the epoch
    regex and slot k the k-th definition: sorting the keys gives the order `feed` reads them in
    (record by record, the epoch first, then definition order). A value of None means timed out.

    Args:
        pack: the definitions and epoch source.
        job: the job name stamped on every observation.
        timeout: seconds allowed per regex match on one record (None: no limit); a scan of a whole
            batch gets the same allowance before it falls back to per-record matching.
    """

    def __init__(self, pack: Pack, job: str, *, timeout: float | None = DEFAULT_TIMEOUT) -> None:
        self.pack = pack
        self.job = job
        self.timeout = timeout
        self.problems: list[Problem] = []
        self.compiled = [compile_definition(d) for d in pack.definitions]
        spec = pack.epoch
        self._epoch_def = (
            compile_definition(MetricDefinition("epoch", spec.regex, f"{pack.name}: epoch"))
            if spec.regex and spec.source != "count"
            else None
        )
        self._names = ["epoch", *(c.name for c in self.compiled)]  # by slot
        self._slots = len(self._names)
        self._matchers = [(k + 1, c) for k, c in enumerate(self.compiled)]
        if self._epoch_def is not None:
            self._matchers.insert(0, (0, self._epoch_def))
        self._per_record: set[int] = set()  # slots whose batch scan timed out: not retried
        self._heads = {c.literal[0] for _, c in self._matchers if c.literal}
        self._prefilter = _Prefilter(self._matchers)
        self.attempt = 1
        self.epoch: int | None = 1 if spec.source == "header" else None
        self._pending: dict[str, Observation] = {}
        self._counts: dict[str, int] = {}
        self._settled: set[str] = set()  # metrics already settled in this epoch (settle = "match")

    def feed(self, record: Record) -> list[Observation]:
        """Read one record; return the observations it settled (possibly none)."""
        found: dict[int, str | None] = {}
        for slot, compiled in self._prefilter.candidates(record.text):
            self._capture_into(found, slot, compiled, record.text, filtered=True)
        return self._apply(found, [record.text], record.line_no, [record.offset])

    def feed_batch(self, batch: RecordBatch) -> list[Observation]:
        """`feed` every record of `batch` in order; return the observations they settled."""
        if not batch.texts:
            return []  # an empty text would still give empty matches, belonging to no record
        found = self._batch_captures(batch)
        return self._apply(found, batch.texts, batch.first_line_no, batch.offsets)

    def finish(self) -> list[Observation]:
        """The log or job ended: settle the open epoch."""
        out = list(self._pending.values())
        self._pending.clear()
        return out

    # ------------------------------------------------------------------------------- matching

    def _capture_into(
        self,
        found: dict[int, str | None],
        key: int,
        compiled: CompiledDefinition,
        text: str,
        filtered: bool = False,
    ) -> None:
        """Match one record alone; store its capture (None: timed out) under `key` if any.

        `filtered`: the caller already knows the record holds the definition's literal.
        """
        if not filtered and compiled.literal is not None and compiled.literal not in text:
            return  # the cheap prefilter: most records lack most definitions' literal
        try:
            raw = compiled.capture_unfiltered(text, self.timeout)
        except TimeoutError:
            found[key] = None
            return
        if raw is not None:
            found[key] = raw

    def _batch_captures(self, batch: RecordBatch) -> dict[int, str | None]:
        """Every capture in the batch, keyed `record index * slots + slot`."""
        texts = batch.texts
        text = "\n".join(texts)
        # starts[i] is record i's first character in `text`; starts[-1] is len(text) + 1.
        starts = list(accumulate(map(add, map(len, texts), repeat(1)), initial=0))
        found: dict[int, str | None] = {}
        # A literal is absent when its first character is (a memchr, far cheaper than a substring
        # search over the batch): a batch of Keras lines has no TAB for the XGBoost literals.
        heads = {head for head in self._heads if head in text}
        for slot, compiled in self._matchers:
            literal = compiled.literal
            if literal is not None and (literal[0] not in heads or literal not in text):
                continue  # no record of the batch can match
            if compiled.joined is not None and slot not in self._per_record:
                if self._scan(found, slot, compiled, text, starts, texts):
                    continue
                self._per_record.add(slot)  # pathological on this log: stop paying for scans
            for i, record_text in enumerate(texts):
                self._capture_into(found, i * self._slots + slot, compiled, record_text)
        return found

    def _scan(
        self,
        found: dict[int, str | None],
        slot: int,
        compiled: CompiledDefinition,
        text: str,
        starts: list[int],
        texts: list[str],
    ) -> bool:
        """Add each record's capture from one pass over the joined text; False if it timed out.

        Per record, `search` keeps the first match and a `last` definition the last overlapped one.
        A match that crosses a `\n` exists in no single record and may hide (non-overlapped scan)
        what the records it touches hold: those records are matched again alone.
        """
        assert compiled.joined is not None
        slots, keep = self._slots, found.__setitem__ if compiled.last else found.setdefault
        crossed: set[int] = set()
        try:
            for match in compiled.joined.finditer(text, overlapped=compiled.last, timeout=self.timeout):
                start, end = match.span()
                i = bisect_right(starts, start) - 1
                if end >= starts[i + 1]:  # reaches past record i's last character
                    crossed.update(range(i, bisect_right(starts, end - 1)))
                else:
                    keep(i * slots + slot, match.group(1))
        except TimeoutError:
            for key in [key for key in found if key % slots == slot]:
                del found[key]  # what this scan found so far: the per-record pass redoes it
            return False
        for i in crossed:
            found.pop(i * slots + slot, None)
            self._capture_into(found, i * slots + slot, compiled, texts[i])
        return True

    # ------------------------------------------------------------------------ reading values

    def _apply(
        self,
        found: dict[int, str | None],
        texts: list[str],
        first_line_no: int,
        offsets: list[int],
    ) -> list[Observation]:
        """The captures of consecutive records, in `feed` order → settled observations (and problems)."""
        settled: list[Observation] = []
        line_epochs = self.pack.epoch.source == "line"
        for key in sorted(found):
            i, slot = divmod(key, self._slots)
            raw, line_no = found[key], first_line_no + i
            if raw is None:
                self._problem(
                    line_no,
                    offsets[i],
                    self._names[slot],
                    f"regex timed out (>{self.timeout}s) on a record of {len(texts[i])} characters;"
                    " record skipped for this definition",
                )
            elif slot == 0:
                epoch = self._read_epoch(raw, line_no, offsets[i])
                if epoch is not None:
                    settled += self._enter(epoch)
            elif line_epochs and self.epoch is None:
                continue  # nothing to attach values to before the first epoch number
            elif (value := parse_number(raw)) is None:
                message = f"captured {raw!r}, which is not a number"
                self._problem(line_no, offsets[i], self._names[slot], message, raw)
            elif (
                observation := self._observe(self._names[slot], value, raw, line_no, offsets[i])
            ) is not None:
                settled.append(observation)
        return settled

    def _read_epoch(self, raw: str, line_no: int, offset: int) -> int | None:
        value = parse_number(raw)
        if value is None or math.isnan(value) or math.isinf(value):
            self._problem(line_no, offset, "epoch", f"epoch {raw!r} is not a number", raw)
            return None
        # ceil: a fractional epoch counts epochs completed so far (HF `'epoch': 0.5` is in epoch 1).
        epoch = math.ceil(value) - self.pack.epoch.base + 1
        return max(epoch, 1)

    def _enter(self, epoch: int) -> list[Observation]:
        if self.epoch is None or epoch == self.epoch:
            self.epoch = epoch
            return []
        settled = self.finish()
        if epoch < self.epoch:
            self.attempt += 1
        self.epoch = epoch
        self._settled.clear()
        return settled

    def _observe(self, metric: str, value: float, raw: str, line_no: int, offset: int) -> Observation | None:
        """Record one value; return the observation if it settles now."""
        if self.pack.epoch.source == "count":
            epoch = self._counts.get(metric, 0) + 1
            self._counts[metric] = epoch
            return Observation(self.job, metric, epoch, value, self.attempt, line_no, offset, raw)
        assert self.epoch is not None
        observation = Observation(self.job, metric, self.epoch, value, self.attempt, line_no, offset, raw)
        if self.pack.epoch.settle_policy == "next":
            self._pending[metric] = observation
            return None
        if metric in self._settled:
            return None
        self._settled.add(metric)
        return observation

    def snapshot(self) -> dict[str, object]:
        """The state needed to resume after the last fed record (JSON-ready): stored beside the file
        offset so a daemon restarted there neither loses the open epoch nor re-counts emissions."""
        return {
            "attempt": self.attempt,
            "epoch": self.epoch,
            "counts": dict(self._counts),
            "settled": sorted(self._settled),
            "pending": [
                [o.metric, o.epoch, o.raw, o.value, o.attempt, o.line_no, o.offset]
                for o in self._pending.values()
            ],
        }

    @classmethod
    def restore(cls, pack: Pack, job: str, snapshot: dict[str, object], **kwargs: float | None) -> Extractor:
        """An extractor in the state `snapshot()` described."""
        extractor = cls(pack, job, **kwargs)
        extractor.attempt = int(snapshot["attempt"])  # type: ignore[call-overload]
        epoch = snapshot["epoch"]
        extractor.epoch = None if epoch is None else int(epoch)  # type: ignore[call-overload]
        extractor._counts = {str(k): int(v) for k, v in dict(snapshot["counts"]).items()}  # type: ignore[call-overload]
        extractor._settled = {str(m) for m in snapshot["settled"]}  # type: ignore[attr-defined]
        for metric, ep, raw, value, attempt, line_no, offset in snapshot["pending"]:  # type: ignore[attr-defined]
            extractor._pending[metric] = Observation(
                job, metric, ep, float(value), attempt, line_no, offset, raw
            )
        return extractor

    def _problem(self, line_no: int, offset: int, definition: str, message: str, text: str = "") -> None:
        self.problems.append(Problem(self.job, line_no, offset, definition, message, text))


class _Prefilter:
    """Which matchers can match one record: those whose required literal it contains.

    The per-record hot path (`feed`, used by the daemon): one `in` test per distinct literal is far
    cheaper than calling every regex (profiling showed the per-definition calls dominating on
    short lines).
    """

    def __init__(self, matchers: list[tuple[int, CompiledDefinition]]) -> None:
        groups: dict[str, list[tuple[int, CompiledDefinition]]] = {}
        self._always: list[tuple[int, CompiledDefinition]] = []
        for slot, compiled in matchers:
            if compiled.literal is None:
                self._always.append((slot, compiled))
            else:
                groups.setdefault(compiled.literal, []).append((slot, compiled))
        self._groups = list(groups.items())

    def candidates(self, text: str) -> list[tuple[int, CompiledDefinition]]:
        return [m for literal, group in self._groups if literal in text for m in group] + self._always


@dataclass(slots=True)
class FileResult:
    """What `extract_file` read from one log."""

    job: str
    path: str
    observations: list[Observation] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    records: int = 0
    bytes_read: int = 0


def read_chunks(path: Path, chunk_bytes: int = CHUNK_BYTES) -> Iterator[bytes]:
    """The file's bytes in chunks; InputError naming the path when it cannot be read."""
    if not path.exists():
        raise InputError("log file not found", where=str(path), hint="check the path")
    if path.is_dir():
        raise InputError("is a directory, not a log file", where=str(path), hint="give a file")
    try:
        handle = path.open("rb")
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror}", where=str(path)) from exc
    with handle:
        while chunk := handle.read(chunk_bytes):
            yield chunk


# Control bytes that never appear in a text log (TAB, LF, CR, BS, FF, VT and ESC do).
_BINARY_BYTES = bytes(c for c in range(32) if c not in b"\t\n\r\x08\x0b\x0c\x1b")
_TEXT_BYTES = bytes(c for c in range(256) if c not in _BINARY_BYTES)


def binary_share(sample: bytes) -> float:
    """Share of bytes in `sample` that are control characters no text log contains (NUL etc.)."""
    return len(sample.translate(None, _TEXT_BYTES)) / len(sample) if sample else 0.0


def iter_batches(
    path: Path, max_record_bytes: int = DEFAULT_MAX_RECORD_BYTES, stats: FileResult | None = None
) -> Iterator[RecordBatch]:
    """Stream a file's records, one RecordBatch per chunk read (bounded memory whatever the lines).

    With `stats`, bytes are counted and a file whose first chunk is mostly control bytes (a NUL-
    filled or binary file given by mistake) is reported as a problem; its records still go through.
    """
    framer = Framer(max_record_bytes)
    for chunk in read_chunks(path):
        if stats is not None:
            if not stats.bytes_read and binary_share(chunk[:65536]) > 0.05:
                share = binary_share(chunk[:65536])
                stats.problems.append(
                    Problem(stats.job, 0, 0, "file", f"looks binary: {share:.0%} control bytes")
                )
            stats.bytes_read += len(chunk)
        yield framer.feed_batch(chunk)
    yield framer.flush_batch()


def iter_records(
    path: Path, max_record_bytes: int = DEFAULT_MAX_RECORD_BYTES, stats: FileResult | None = None
) -> Iterator[Record]:
    """`iter_batches`, one Record at a time."""
    for batch in iter_batches(path, max_record_bytes, stats):
        yield from batch.records()


def extract_file(
    path: str | Path,
    pack: Pack,
    job: str | None = None,
    *,
    max_record_bytes: int = DEFAULT_MAX_RECORD_BYTES,
    timeout: float | None = DEFAULT_TIMEOUT,
) -> FileResult:
    """Extract every settled observation of a finished log (streams; never loads the whole file)."""
    path = Path(path)
    result = FileResult(job or str(path), str(path))
    extractor = Extractor(pack, result.job, timeout=timeout)
    for batch in iter_batches(path, max_record_bytes, result):
        result.records += len(batch)
        result.observations += extractor.feed_batch(batch)
    result.observations += extractor.finish()
    result.problems[:0] = extractor.problems
    if result.bytes_read and not result.records:
        result.problems.append(
            Problem(result.job, 0, 0, "file", "no text records (empty, NUL-filled or binary?)")
        )
    return result
