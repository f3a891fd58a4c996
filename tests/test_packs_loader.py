"""Loading pattern packs: TOML packs by path and name, plain definitions files, errors naming keys."""

from __future__ import annotations

from pathlib import Path

import pytest

from metricwatch.errors import PatternError
from metricwatch.packs import EpochSpec, load_pack, pack_names
from metricwatch.types import Direction

DATA = Path(__file__).parent / "data"

PACK = """
name = "toy"
description = "toy pack"
objective = "val_loss"
direction = "minimize"
[epoch]
source = "header"
regex = '^Epoch (\\d+)/\\d+'
base = 1
[[metrics]]
Name = "val_loss"
Regex = '\\bval_loss: ({NUM})'
"""


def write(tmp_path: Path, text: str, name: str = "toy.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_toml_pack_by_path(tmp_path: Path) -> None:
    pack = load_pack(write(tmp_path, PACK))
    assert pack.name == "toy" and pack.objective == "val_loss"
    assert pack.direction is Direction.MINIMIZE
    assert pack.epoch == EpochSpec("header", r"^Epoch (\d+)/\d+", 1)
    assert [d.name for d in pack.definitions] == ["val_loss"]
    assert pack.warnings == ()


def test_definitions_file_becomes_a_count_pack() -> None:
    pack = load_pack(DATA / "sagemaker-xgboost-0.90-1.json")
    assert pack.epoch.source == "count" and len(pack.definitions) == 35
    assert pack.objective is None


@pytest.mark.parametrize(
    ("old", "new", "message", "where"),
    [
        ('direction = "minimize"', 'direction = "down"', "invalid direction", "direction"),
        ('source = "header"', 'source = "lines"', "invalid source", "epoch.source"),
        ("base = 1", "base = 2", "base must be 0 or 1", "epoch.base"),
        ('objective = "val_loss"', 'objective = "loss"', "not one of the metrics", "objective"),
        ('name = "toy"', 'name = "toy"\ncolour = 1', "unknown key 'colour'", ""),
        ("regex = '^Epoch (\\d+)/\\d+'", "regex = 'Epoch \\d+'", "capturing groups", "epoch.regex"),
        ("Regex = '\\bval_loss: ({NUM})'", "Regex = 'val_loss: ('", "invalid regex", "metrics: entry 1"),
    ],
)
def test_pack_errors_name_file_and_key(tmp_path: Path, old: str, new: str, message: str, where: str) -> None:
    assert old in PACK
    path = write(tmp_path, PACK.replace(old, new))
    with pytest.raises(PatternError, match=message) as info:
        load_pack(path)
    assert info.value.where.startswith(str(path)) and where in info.value.where


def test_header_source_needs_a_regex(tmp_path: Path) -> None:
    path = write(tmp_path, PACK.replace("regex = '^Epoch (\\d+)/\\d+'\n", ""))
    with pytest.raises(PatternError, match="needs a regex"):
        load_pack(path)


def test_unknown_pack_name_lists_known_packs() -> None:
    with pytest.raises(PatternError, match="unknown pattern pack 'no-such-pack'") as info:
        load_pack("no-such-pack")
    assert "known packs" in info.value.hint


def test_shipped_packs_all_load() -> None:
    """Every patterns/*.toml present loads (the packs themselves are another engineer's)."""
    for name in pack_names():
        pack = load_pack(name)
        assert pack.definitions and pack.name
