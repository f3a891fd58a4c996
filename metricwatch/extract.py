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
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from metricwatch.definitions import (
    DEFAULT_TIMEOUT,
    CompiledDefinition,
    MetricDefinition,
    compile_definition,
    parse_number,
)
from metricwatch.errors import InputError
from metricwatch.frame import DEFAULT_MAX_RECORD_BYTES, Framer
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

    Args:
        pack: the definitions and epoch source.
        job: the job name stamped on every observation.
        timeout: seconds allowed per regex match on one record (None: no limit).
    """

    def __init__(self, pack: Pack, job: str, *, timeout: float | None = DEFAULT_TIMEOUT) -> None:
        self.pack = pack
        self.job = job
        self.timeout = timeout
        self.problems: list[Problem] = []
        self.compiled = [compile_definition(d) for d in pack.definitions]
        self._prefilter = _Prefilter(self.compiled)
        spec = pack.epoch
        self._epoch_def = (
            compile_definition(MetricDefinition("epoch", spec.regex, f"{pack.name}: epoch"))
            if spec.regex and spec.source != "count"
            else None
        )
        self.attempt = 1
        self.epoch: int | None = 1 if spec.source == "header" else None
        self._pending: dict[str, Observation] = {}
        self._counts: dict[str, int] = {}
        self._settled: set[str] = set()  # metrics already settled in this epoch (settle = "match")

    def feed(self, record: Record) -> list[Observation]:
        """Read one record; return the observations it settled (possibly none)."""
        settled: list[Observation] = []
        if self._epoch_def is not None:
            epoch = self._read_epoch(record)
            if epoch is not None:
                settled = self._enter(epoch)
        if self.pack.epoch.source == "line" and self.epoch is None:
            return settled  # nothing to attach values to before the first epoch number
        for compiled in self._prefilter.candidates(record.text):
            raw = self._capture(compiled, record)
            if raw is None:
                continue
            value = parse_number(raw)
            if value is None:
                self._problem(record, compiled.name, f"captured {raw!r}, which is not a number", raw)
                continue
            settled += self._observe(compiled.name, value, raw, record)
        return settled

    def finish(self) -> list[Observation]:
        """The log or job ended: settle the open epoch."""
        out = list(self._pending.values())
        self._pending.clear()
        return out

    def _capture(self, compiled: CompiledDefinition, record: Record) -> str | None:
        try:
            return compiled.capture_unfiltered(record.text, self.timeout)
        except TimeoutError:
            self._problem(
                record,
                compiled.name,
                f"regex timed out (>{self.timeout}s) on a record of {len(record.text)} characters;"
                " record skipped for this definition",
            )
            return None

    def _read_epoch(self, record: Record) -> int | None:
        assert self._epoch_def is not None
        if self._epoch_def.literal is not None and self._epoch_def.literal not in record.text:
            return None
        raw = self._capture(self._epoch_def, record)
        if raw is None:
            return None
        value = parse_number(raw)
        if value is None or math.isnan(value) or math.isinf(value):
            self._problem(record, "epoch", f"epoch {raw!r} is not a number", raw)
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

    def _observe(self, metric: str, value: float, raw: str, record: Record) -> list[Observation]:
        if self.pack.epoch.source == "count":
            epoch = self._counts.get(metric, 0) + 1
            self._counts[metric] = epoch
            return [self._observation(metric, epoch, value, raw, record)]
        assert self.epoch is not None
        observation = self._observation(metric, self.epoch, value, raw, record)
        if self.pack.epoch.settle_policy == "next":
            self._pending[metric] = observation
            return []
        if metric in self._settled:
            return []
        self._settled.add(metric)
        return [observation]

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

    def _observation(self, metric: str, epoch: int, value: float, raw: str, record: Record) -> Observation:
        return Observation(self.job, metric, epoch, value, self.attempt, record.line_no, record.offset, raw)

    def _problem(self, record: Record, definition: str, message: str, text: str = "") -> None:
        self.problems.append(Problem(self.job, record.line_no, record.offset, definition, message, text))


class _Prefilter:
    """Which definitions can match a record: those whose required literal it contains.

    The hot path: one `in` test per distinct literal is far cheaper than calling every regex
    (profiling showed the per-definition calls dominating on short lines).
    """

    def __init__(self, compiled: list[CompiledDefinition]) -> None:
        groups: dict[str, list[int]] = {}
        self._always: list[int] = []
        for index, c in enumerate(compiled):
            if c.literal is None:
                self._always.append(index)
            else:
                groups.setdefault(c.literal, []).append(index)
        self._groups = list(groups.items())
        self._compiled = compiled

    def candidates(self, text: str) -> list[CompiledDefinition]:
        hits = [i for literal, indices in self._groups if literal in text for i in indices]
        if self._always:
            hits += self._always
        if len(hits) > 1:
            hits.sort()  # definition order, so emissions are deterministic
        return [self._compiled[i] for i in hits]


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


def iter_records(
    path: Path, max_record_bytes: int = DEFAULT_MAX_RECORD_BYTES, stats: FileResult | None = None
) -> Iterator[Record]:
    """Stream a file's records through a Framer (bounded memory whatever the line lengths).

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
        yield from framer.feed(chunk)
    yield from framer.flush()


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
    for record in iter_records(path, max_record_bytes, result):
        result.records += 1
        result.observations += extractor.feed(record)
    result.observations += extractor.finish()
    result.problems[:0] = extractor.problems
    if result.bytes_read and not result.records:
        result.problems.append(
            Problem(result.job, 0, 0, "file", "no text records (empty, NUL-filled or binary?)")
        )
    return result
