"""Every sample log, extracted with its pack, reproduces the framework's own ground truth.

`sample_logs/**/<trial>.log` were written by real frameworks (stdout+stderr redirected to a file) and
`<trial>.truth.json` by the same training script from the framework's API (evals_result(),
History.history, loss_curve_, log_history, ...), never from the log text. `tests/data/**` holds
fixtures for what cannot run here (quoted from the research catalogue, or constructed in the same format);
their truth is the numbers in the lines, read by hand.

"Equal at the printed precision": the tolerance is half a unit in the last printed digit of the
captured text (`0.5962` → 5e-5, `9.0208e-07` → 5e-11), so a value read from the wrong epoch, the
wrong key or with a dropped exponent fails, while the framework's own rounding passes.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from pathlib import Path

import pytest

from metricwatch.extract import extract_file
from metricwatch.packs import load_pack
from metricwatch.types import Observation

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "sample_logs"
# quoted: lines copied from the catalogue; constructed: the same formats with invented numbers, for
# definitions no quoted line exercises (see tests/data/README.md)
FIXTURES = [ROOT / "tests" / "data" / "quoted", ROOT / "tests" / "data" / "constructed"]
TRUTHS = sorted(SAMPLES.rglob("*.truth.json")) + sorted(
    p for folder in FIXTURES for p in folder.rglob("*.truth.json")
)


def _log_for(truth: Path) -> Path:
    return truth.with_name(truth.name.removesuffix(".truth.json") + ".log")


def _id(truth: Path) -> str:
    return str(truth.relative_to(ROOT)).removesuffix(".truth.json")


def printed_tolerance(raw: str) -> float:
    """Half a unit in the last digit printed in `raw` (the rounding the framework applied)."""
    text = raw.strip().lower().lstrip("+-")
    mantissa, _, exponent = text.partition("e")
    decimals = len(mantissa.partition(".")[2])
    return 0.5 * 10.0 ** (int(exponent or 0) - decimals)


def assert_same(obs: Observation, expected: float | str, where: str) -> None:
    if isinstance(expected, str):  # "nan", "inf", "-inf" as written by the generator
        expected = float(expected)
    if math.isnan(expected):
        assert math.isnan(obs.value), f"{where}: expected nan, read {obs.raw!r}"
        return
    tolerance = printed_tolerance(obs.raw) * (1 + 1e-9) + 1e-12 * abs(expected)
    assert abs(obs.value - expected) <= tolerance, (
        f"{where}: read {obs.raw!r} (line {obs.line_no}), framework says {expected!r}"
    )


def by_metric_epoch(observations: list[Observation], attempt: int) -> dict[str, dict[int, Observation]]:
    out: dict[str, dict[int, Observation]] = defaultdict(dict)
    for obs in observations:
        if obs.attempt == attempt:
            assert obs.epoch not in out[obs.metric], f"two settled values for {obs.metric} {obs.epoch}"
            out[obs.metric][obs.epoch] = obs
    return out


def check_against_truth(log: Path, truth: dict, pack_name: str | None = None) -> None:
    result = extract_file(log, load_pack(pack_name or truth["pack"]))
    assert not result.problems, [str(p) for p in result.problems]
    attempt = truth.get("attempt", max((o.attempt for o in result.observations), default=1))
    got = by_metric_epoch(result.observations, attempt)
    # nothing read that the framework did not report (a key matched inside another key, say)
    # ("unchecked": metrics the framework's API does not expose, such as MXNet's Time cost)
    known = set(truth["metrics"]) | set(truth.get("unchecked", ()))
    assert set(got) <= known, f"{log.name}: unexpected {set(got) - known}"
    for metric, values in truth["metrics"].items():
        expected_epochs = {i + 1 for i, v in enumerate(values) if v is not None}
        assert set(got[metric]) == expected_epochs, f"{log.name} {metric}: epochs {sorted(got[metric])}"
        for epoch in expected_epochs:
            assert_same(got[metric][epoch], values[epoch - 1], f"{log.name} {metric} epoch {epoch}")


def test_there_are_sample_logs_for_every_required_sweep() -> None:
    # issue 2: 8+ trials (some clearly bad) for XGBoost, LightGBM, Keras 3 and a plain PyTorch loop
    for sweep in ("xgboost/sweep", "lightgbm/sweep", "keras3/sweep", "pytorch/sweep"):
        trials = json.loads((SAMPLES / sweep / "sweep.json").read_text())["trials"]
        assert len(trials) >= 8
        for trial in trials:
            assert (SAMPLES / sweep / f"{trial['name']}.log").is_file()
            assert (SAMPLES / sweep / f"{trial['name']}.truth.json").is_file()


@pytest.mark.parametrize("truth_path", TRUTHS, ids=_id)
def test_sample_log_reproduces_framework_truth(truth_path: Path) -> None:
    check_against_truth(_log_for(truth_path), json.loads(truth_path.read_text()))


XGB_LOGS = sorted((SAMPLES / "xgboost").rglob("*.log"))
SAGEMAKER_XGB = {d.name for d in load_pack("sagemaker-xgboost").definitions}


def _published_subset(truth: dict) -> dict:
    # XGBoost >= 1.x prints `tweedie-nloglik@1.5`; the published regex expects the bare name.
    kept = {k: v for k, v in truth["metrics"].items() if k in SAGEMAKER_XGB and "tweedie" not in k}
    return {**truth, "metrics": kept}


@pytest.mark.parametrize("log", XGB_LOGS, ids=lambda p: str(p.relative_to(SAMPLES)))
def test_sagemaker_xgboost_definitions_read_raw_and_cloudwatch_form(log: Path, tmp_path: Path) -> None:
    # SageMaker's published regexes contain `#011`; a raw local log has TABs, CloudWatch shows `#011`.
    truth = _published_subset(json.loads(_log_for_truth(log).read_text()))
    check_against_truth(log, truth, "sagemaker-xgboost")
    cloudwatch = tmp_path / log.name
    cloudwatch.write_bytes(log.read_bytes().replace(b"\t", b"#011"))
    check_against_truth(cloudwatch, truth, "sagemaker-xgboost")
    check_against_truth(cloudwatch, json.loads(_log_for_truth(log).read_text()), "xgboost")


def _log_for_truth(log: Path) -> Path:
    return log.with_name(log.name.removesuffix(".log") + ".truth.json")


def test_keras3_progress_bar_log_in_cloudwatch_escapes(tmp_path: Path) -> None:
    # verbose=1 writes \r, \b and ESC into the file; SageMaker shows them as #015, #010, #033.
    log = SAMPLES / "keras3/sweep/trial-02.log"
    raw = log.read_bytes()
    assert b"\x08" in raw and b"\r" in raw and b"\x1b[" in raw  # the hazard is really there
    escaped = raw.replace(b"\r", b"#015").replace(b"\x08", b"#010").replace(b"\x1b", b"#033")
    (tmp_path / "trial-02.log").write_bytes(escaped)
    check_against_truth(tmp_path / "trial-02.log", json.loads(_log_for_truth(log).read_text()))


def test_keras3_epochs1_has_no_header_and_is_epoch_1() -> None:
    log = SAMPLES / "keras3/single/epochs1-v1.log"
    assert b"Epoch 1/1" not in log.read_bytes()
    result = extract_file(log, load_pack("keras3"))
    assert {o.epoch for o in result.observations} == {1}
    assert {o.metric for o in result.observations} == {"accuracy", "loss", "val_accuracy", "val_loss"}


@pytest.mark.parametrize(
    ("folder", "pack", "first", "second"),
    [
        ("xgboost/sweep", "xgboost", "trial-01", "trial-04"),  # epoch on the line, 0-based
        ("keras3/sweep", "keras3", "trial-01", "trial-02"),  # header epochs; v2 then v1 bar
        ("lightgbm/sweep", "lightgbm", "trial-02", "trial-08"),
        ("pytorch/sweep", "plain", "trial-03", "trial-01"),
    ],
)
def test_job_restarted_into_same_log_starts_a_new_attempt(
    tmp_path: Path, folder: str, pack: str, first: str, second: str
) -> None:
    # A restarted job appends to its old log: the counter goes back, so attempt 2 begins and
    # attempt 1's history is kept, each equal to its own run's truth.
    log = tmp_path / "restarted.log"
    log.write_bytes(
        (SAMPLES / folder / f"{first}.log").read_bytes() + (SAMPLES / folder / f"{second}.log").read_bytes()
    )
    for attempt, trial in ((1, first), (2, second)):
        truth = json.loads((SAMPLES / folder / f"{trial}.truth.json").read_text())
        check_against_truth(log, {**truth, "attempt": attempt}, pack)
    result = extract_file(log, load_pack(pack))
    assert max(o.attempt for o in result.observations) == 2
