"""Every shipped pattern pack loads, is valid for SageMaker, has no trap, and has no dead definition.

"Dead" means a definition that matches no record of any sample log (real framework output) or
fixture (tests/data/quoted, tests/data/constructed): such a regex was never shown to read anything.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import pytest

from metricwatch.definitions import MAX_DEFINITIONS, MAX_REGEX, compile_definition, expand
from metricwatch.extract import iter_records
from metricwatch.packs import Pack, load_pack, pack_names
from metricwatch.types import Record

ROOT = Path(__file__).resolve().parent.parent
PACK_FILES = sorted((ROOT / "patterns").glob("*.toml"))
LOG_FOLDERS = [
    ROOT / "sample_logs",
    ROOT / "tests" / "data" / "quoted",
    ROOT / "tests" / "data" / "constructed",
]

REQUIRED = {
    "xgboost", "sagemaker-xgboost", "lightgbm", "catboost", "keras2", "keras3", "sklearn-mlp",
    "lightning", "hf-trainer", "mxnet", "chainer", "sagemaker-quality-metric", "pytorch-imagenet",
    "fastai", "plain",
}  # fmt: skip


@cache
def all_records() -> tuple[Record, ...]:
    logs = sorted(p for folder in LOG_FOLDERS for p in folder.rglob("*.log"))
    assert logs
    return tuple(r for log in logs for r in iter_records(log))


def test_every_required_pack_is_shipped() -> None:
    assert set(pack_names()) >= REQUIRED


@pytest.mark.parametrize("path", PACK_FILES, ids=lambda p: p.stem)
def test_pack_loads_valid_and_without_trap_warnings(path: Path) -> None:
    pack = load_pack(path.stem)
    assert pack.name == path.stem  # `--patterns NAME` finds the file of that name
    assert 1 <= len(pack.definitions) <= MAX_DEFINITIONS
    assert pack.warnings == ()  # no ([0-9\.]+), no empty-capturable group, no unanchored key
    for definition in pack.definitions:
        # SageMaker's limit applies to what it would receive: the regex with {NUM} expanded
        assert len(expand(definition.regex)) <= MAX_REGEX, definition.name
    assert pack.objective in {d.name for d in pack.definitions}
    assert pack.direction is not None
    # a header comment explains the framework's line format, epoch base and quirks
    assert path.read_text().startswith("# ")


def _matches_somewhere(pack: Pack) -> dict[str, bool]:
    compiled = [compile_definition(d) for d in pack.definitions]
    seen = {c.name: False for c in compiled}
    for record in all_records():
        for c in compiled:
            if not seen[c.name] and c.capture(record.text, None) is not None:
                seen[c.name] = True
        if all(seen.values()):
            break
    return seen


@pytest.mark.parametrize("path", PACK_FILES, ids=lambda p: p.stem)
def test_no_dead_definitions(path: Path) -> None:
    seen = _matches_somewhere(load_pack(path.stem))
    assert [name for name, hit in seen.items() if not hit] == []


@pytest.mark.parametrize("path", PACK_FILES, ids=lambda p: p.stem)
def test_epoch_regex_matches_some_record(path: Path) -> None:
    pack = load_pack(path.stem)
    if pack.epoch.source == "count":
        return
    assert pack.epoch.regex is not None
    epoch = compile_definition(pack.definitions[0].__class__("epoch", pack.epoch.regex))
    assert any(epoch.capture(r.text, None) is not None for r in all_records())
