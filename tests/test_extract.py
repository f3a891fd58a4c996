"""Extraction: settled per-epoch values, epoch sources, attempts, problems, streaming files."""

from __future__ import annotations

import dataclasses
import itertools
import json
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from metricwatch.definitions import MetricDefinition
from metricwatch.errors import InputError
from metricwatch.extract import Extractor, extract_file
from metricwatch.frame import RecordBatch
from metricwatch.packs import EpochSpec, Pack, load_pack
from metricwatch.types import Record

DATA = Path(__file__).parent / "data"


def pack(source: str, regex: str | None, base: int = 1, **metrics: str) -> Pack:
    defs = tuple(MetricDefinition(n, r) for n, r in metrics.items())
    return Pack("t", "", defs, EpochSpec(source, regex, base))


def run(p: Pack, lines: list[str]) -> tuple[list[tuple[str, int, int, float]], Extractor]:
    ex = Extractor(p, "job")
    out = []
    for i, line in enumerate(lines, 1):
        out += ex.feed(Record(line, 0, 0, i))
    out += ex.finish()
    return [(o.metric, o.attempt, o.epoch, o.value) for o in out], ex


KERAS = pack("header", r"^Epoch (\d+)/\d+", 1, val_loss=r"\bval_loss: ({NUM})")


def test_header_epochs_take_the_last_value_and_settle_on_the_next_epoch() -> None:
    ex = Extractor(KERAS, "job")
    assert ex.feed(Record("Epoch 1/3", 0, 0, 1)) == []
    assert ex.feed(Record("1/2 - val_loss: 0.9", 0, 0, 2)) == []
    assert ex.feed(Record("2/2 - val_loss: 0.8", 0, 0, 3)) == []
    settled = ex.feed(Record("Epoch 2/3", 0, 0, 4))
    assert [(o.epoch, o.value, o.line_no) for o in settled] == [(1, 0.8, 3)]
    ex.feed(Record("2/2 - val_loss: 0.7", 0, 0, 5))
    assert [(o.epoch, o.value) for o in ex.finish()] == [(2, 0.7)]


def test_header_source_defaults_to_epoch_1_without_header() -> None:
    """Keras 3 prints no `Epoch 1/1` header when epochs=1."""
    got, _ = run(KERAS, ["3/3 - 0s - loss: 9.0208e-07 - val_loss: 9.6999e-07"])
    assert got == [("val_loss", 1, 1, 9.6999e-07)]


def test_epoch_going_back_starts_a_new_attempt() -> None:
    lines = [
        "Epoch 1/2",
        "val_loss: 0.5",
        "Epoch 2/2",
        "val_loss: 0.4",
        "Epoch 1/2",
        "val_loss: 0.6",
        "Epoch 2/2",
        "val_loss: 0.3",
    ]
    got, _ = run(KERAS, lines)
    assert got == [
        ("val_loss", 1, 1, 0.5),
        ("val_loss", 1, 2, 0.4),
        ("val_loss", 2, 1, 0.6),
        ("val_loss", 2, 2, 0.3),
    ]


def test_line_epochs_zero_based_are_normalised() -> None:
    p = pack("line", r"^\[(\d+)\]", 0, rmse=r"\tvalidation-rmse:({NUM})")
    got, _ = run(p, ["noise before", "[0]\tvalidation-rmse:2.5", "[1]\tvalidation-rmse:1e-05"])
    assert got == [("rmse", 1, 1, 2.5), ("rmse", 1, 2, 1e-05)]


def test_fractional_hf_epochs_use_ceil() -> None:
    p = pack("line", r"'epoch': ({NUM})", 1, loss=r"'loss': ({NUM})")
    p = dataclasses.replace(p, epoch=dataclasses.replace(p.epoch, settle="next"))  # HF reprints per epoch
    lines = ["{'loss': 0.9, 'epoch': 0.5}", "{'loss': 0.8, 'epoch': 1.0}", "{'loss': 0.7, 'epoch': 1.5}"]
    got, _ = run(p, lines)
    assert got == [("loss", 1, 1, 0.8), ("loss", 1, 2, 0.7)]


def test_count_source_settles_each_emission() -> None:
    p = pack("count", None, 1, acc=r"Validation-accuracy=({NUM})")
    ex = Extractor(p, "job")
    assert [(o.epoch, o.value) for o in ex.feed(Record("Epoch[0] Validation-accuracy=0.9", 0, 0, 1))] == [
        (1, 0.9)
    ]
    assert [(o.epoch, o.value) for o in ex.feed(Record("Epoch[1] Validation-accuracy=0.95", 0, 0, 2))] == [
        (2, 0.95)
    ]
    assert ex.finish() == []


def test_non_numeric_capture_is_a_problem_not_a_value() -> None:
    p = pack("count", None, 1, f1=r"\bF1=(.*?);")
    got, ex = run(p, ["F1=;", "F1=abc;", "F1=0.5;"])
    assert got == [("f1", 1, 1, 0.5)]
    assert [(pr.line_no, pr.definition, pr.text) for pr in ex.problems] == [(1, "f1", ""), (2, "f1", "abc")]


def test_regex_timeout_is_a_problem_and_the_rest_continues() -> None:
    p = pack("count", None, 1, bad=r"(?:a+)+(b)", good=r"\bgood=({NUM})")
    ex = Extractor(p, "job", timeout=0.05)
    out = ex.feed(Record("a" * 5000 + "c good=1", 0, 0, 7))
    assert [(o.metric, o.value) for o in out] == [("good", 1.0)]
    assert ex.problems[0].line_no == 7 and "timed out" in ex.problems[0].message


def raw_xgb_log(tab: str) -> bytes:
    lines = [
        f"[0]{tab}train-rmse:19.6015{tab}validation-rmse:19.9713",
        f"[1]{tab}train-rmse:14.1{tab}validation-rmse:1.5e-05",
        f"[2]{tab}train-rmse:-0.5{tab}validation-rmse:.25",
    ]
    return ("\n".join(lines) + "\n").encode()


@pytest.mark.parametrize("tab", ["\t", "#011"])
def test_sagemaker_xgboost_builtins_read_raw_and_cloudwatch_logs(tmp_path: Path, tab: str) -> None:
    log = tmp_path / "xgb.log"
    log.write_bytes(raw_xgb_log(tab))
    result = extract_file(log, load_pack(DATA / "sagemaker-xgboost-0.90-1.json"))
    got = {(o.metric, o.epoch): o.value for o in result.observations}
    assert got == {
        ("train:rmse", 1): 19.6015,
        ("validation:rmse", 1): 19.9713,
        ("ObjectiveMetric", 1): 19.9713,
        ("train:rmse", 2): 14.1,
        ("validation:rmse", 2): 1.5e-05,
        ("ObjectiveMetric", 2): 1.5e-05,
        ("train:rmse", 3): -0.5,
        ("validation:rmse", 3): 0.25,
        ("ObjectiveMetric", 3): 0.25,
    }
    assert result.problems == []


_TS = "[11/24/2020 18:53:56 INFO 140513285547840] "
_BCE = "binary_classification_cross_entropy_objective <loss>="
LL_LOG = "".join(
    f"{_TS}{line}\n"
    for line in [
        f"#quality_metric: host=algo-1, epoch=0, train {_BCE}0.595682421003",
        f"#quality_metric: host=algo-1, epoch=0, validation {_BCE}0.51",
        f"#quality_metric: host=algo-1, epoch=1, train {_BCE}0.4",
        f"#quality_metric: host=algo-1, epoch=1, validation {_BCE}nan",
        f"#quality_metric: host=algo-1, validation {_BCE}0.177802592028485",
        "#throughput_metric: host=algo-1, train throughput=1088.6959814934175 records/second",
    ]
)


@pytest.mark.parametrize("escaped", [False, True])
def test_sagemaker_linear_learner_builtins(tmp_path: Path, escaped: bool) -> None:
    text = LL_LOG.replace(" #quality", "#011#quality") if escaped else LL_LOG
    log = tmp_path / "ll.log"
    log.write_text(text)
    result = extract_file(log, load_pack(DATA / "sagemaker-linear-learner.json"))
    got: dict[tuple[str, int], str] = {(o.metric, o.epoch): o.raw for o in result.observations}
    assert got[("train:objective_loss", 1)] == "0.595682421003"
    assert got[("train:objective_loss", 2)] == "0.4"
    assert got[("validation:objective_loss", 1)] == "0.51"
    assert got[("validation:objective_loss", 2)] == "nan"
    assert got[("validation:objective_loss:final", 1)] == "0.177802592028485"
    assert got[("train:throughput", 1)] == "1088.6959814934175"
    assert ("validation:objective_loss", 3) not in got


def test_missing_file_and_directory_raise_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="not found") as info:
        extract_file(tmp_path / "nope.log", KERAS)
    assert info.value.where == str(tmp_path / "nope.log")
    with pytest.raises(InputError, match="directory"):
        extract_file(tmp_path, KERAS)


@pytest.mark.parametrize("content", [b"\x00" * 100_000, bytes(range(256)) * 64])
def test_nul_or_binary_log_is_reported(tmp_path: Path, content: bytes) -> None:
    log = tmp_path / "bin.log"
    log.write_bytes(content)
    result = extract_file(log, KERAS)
    assert result.observations == []
    assert result.problems, "a NUL or binary file must not pass silently"


@pytest.mark.slow
def test_50_mb_no_newline_file_streams_in_bounded_memory(tmp_path: Path) -> None:
    """Run in a child process so ru_maxrss measures only this extraction."""
    log = tmp_path / "long.log"
    with log.open("wb") as handle:
        block = b"x" * (1 << 20)
        for _ in range(50):
            handle.write(block)
        handle.write(b" - val_loss: 0.25")
    code = (
        "import sys;from metricwatch.extract import extract_file;"
        "from metricwatch.packs import Pack,EpochSpec;"
        "from metricwatch.definitions import MetricDefinition as M;"
        "p=Pack('t','',(M('val_loss',r'\\bval_loss: ({NUM})'),),EpochSpec('header',r'^Epoch (\\d+)/\\d+',1));"
        f"r=extract_file({str(log)!r},p);"
        # VmHWM is this process's own peak; ru_maxrss would include the parent's (kept across exec).
        "hwm=[l for l in open('/proc/self/status') if l.startswith('VmHWM')][0].split()[1];"
        "print(r.observations[0].value, hwm)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    value, maxrss_kib = out.stdout.split()
    assert float(value) == 0.25
    assert int(maxrss_kib) < 80 * 1024, f"peak RSS {maxrss_kib} KiB for a 50 MB line"


def test_match_settle_decides_on_the_line_that_completes_the_epoch() -> None:
    """Line-numbered epochs printed once each settle immediately: no wait for the next epoch."""
    p = pack("line", r"^epoch (\d+)", 1, val_loss=r"val_loss=({NUM})")
    ex = Extractor(p, "job")
    got = ex.feed(Record("epoch 1 val_loss=0.5", 0, 0, 1))
    assert [(o.epoch, o.value) for o in got] == [(1, 0.5)]
    assert ex.feed(Record("epoch 1 val_loss=0.4", 0, 0, 2)) == []  # a repeat in the same epoch
    assert ex.finish() == []


def test_snapshot_restore_resumes_an_open_epoch() -> None:
    """After a restart at the committed offset, the open epoch and its pending values survive."""
    ex = Extractor(KERAS, "job")
    ex.feed(Record("Epoch 2/3", 0, 0, 1))
    ex.feed(Record("1/2 - val_loss: 0.9", 0, 0, 2))
    again = Extractor.restore(KERAS, "job", json.loads(json.dumps(ex.snapshot())))
    settled = again.feed(Record("Epoch 3/3", 0, 0, 3))
    assert [(o.metric, o.epoch, o.value) for o in settled] == [("val_loss", 2, 0.9)]


# --------------------------------------------------------- batch matching ≡ record by record

# Regexes chosen to stress matching over newline-joined records: a leading `.*` (last match), a
# `\s*` and a `[^;]*` that can run into the next record, DOTALL, anchors, a lazy empty capture,
# word boundaries, and a look-ahead that is not joinable (matched record by record).
TRICKY = {
    "val_loss": r" val_loss: ({NUM})",
    "last_loss": r".*loss: ({NUM})",
    "spaced": r"loss:\s*({NUM})",
    "until_semicolon": r"[^;]*acc=(\S+)",
    "dotall": r"(?s)F1=(.*?);",
    "anchored": r"^acc=(\d+)$",
    "bounded": r"\bacc=(\d+)\b",
    "lookahead": r"acc=(\d+)(?=\s)",
    "no_literal": r"[xé](\d*)",  # no prefilter literal; an empty capture is a problem
}
TOKENS = [
    " val_loss: 0.5",
    "loss:",
    "loss: ",
    "1e-05",
    " ",
    "\t",
    "7",
    "acc=",
    "acc=3",
    ";",
    "F1=",
    "[2]",
    "é",
    "x",
]
EPOCHS = {
    "count": EpochSpec("count"),
    "line": EpochSpec("line", r"^\[(\d+)\]", 0),
    "header": EpochSpec("header", r"\[(\d+)\]", 1),
}


@given(
    st.lists(st.lists(st.sampled_from(TOKENS), min_size=1, max_size=6).map("".join), max_size=30),
    st.sampled_from(sorted(EPOCHS)),
    st.lists(st.integers(0, 30), max_size=3),
)
@settings(max_examples=300, deadline=None)
def test_feed_batch_reads_exactly_what_feeding_records_one_by_one_reads(
    texts: list[str], source: str, cuts: list[int]
) -> None:
    records = [Record(t, 10 * i, 10 * i + 9, i + 1) for i, t in enumerate(texts)]
    p = Pack("t", "", tuple(MetricDefinition(n, r) for n, r in TRICKY.items()), EPOCHS[source])
    one, batched = Extractor(p, "job"), Extractor(p, "job")
    expected = [o for r in records for o in one.feed(r)] + one.finish()
    got = []
    bounds = sorted({0, len(records), *(c for c in cuts if c < len(records))})
    for a, b in itertools.pairwise(bounds):
        got += batched.feed_batch(RecordBatch.of(records[a:b]))
    got += batched.finish()
    assert got == expected
    assert batched.problems == one.problems


def test_an_empty_batch_reads_nothing_even_for_a_regex_matching_the_empty_string() -> None:
    p = pack("count", None, 1, digits=r"(\d*)")
    assert Extractor(p, "job").feed_batch(RecordBatch(1)) == []


def test_a_match_running_into_the_next_record_is_redone_per_record() -> None:
    # Joined, `loss:\s*` would eat the newline and capture the next record's "5".
    p = pack("count", None, 1, loss=r"loss:\s*({NUM})")
    records = [Record("loss:", 0, 6, 1), Record("5", 6, 8, 2), Record("loss: 0.25", 8, 19, 3)]
    got = Extractor(p, "job").feed_batch(RecordBatch.of(records))
    assert [(o.value, o.line_no) for o in got] == [(0.25, 3)]


def test_a_batch_scan_that_times_out_falls_back_to_per_record_timeouts() -> None:
    p = pack("count", None, 1, bad=r"(?:a+)+(b)", good=r"\bgood=({NUM})")
    ex = Extractor(p, "job", timeout=0.05)
    records = [Record("a" * 5000 + "c", 0, 5001, 1), Record("good=1", 5001, 5008, 2)]
    out = ex.feed_batch(RecordBatch.of(records))
    assert [(o.metric, o.value, o.line_no) for o in out] == [("good", 1.0, 2)]
    assert [(pr.line_no, pr.definition) for pr in ex.problems] == [(1, "bad")]
    assert "timed out" in ex.problems[0].message
