"""`metricwatch extract` and `metricwatch patterns`, run as the installed console script."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

DATA = Path(__file__).parent / "data"
XGB = DATA / "sagemaker-xgboost-0.90-1.json"

PACK = """
name = "toy"
description = "toy keras-like pack"
objective = "val_loss"
direction = "minimize"
[epoch]
source = "header"
regex = '^Epoch (\\d+)/\\d+'
[[metrics]]
Name = "loss"
Regex = ' - loss: ({NUM})'
[[metrics]]
Name = "val_loss"
Regex = '\\bval_loss: (\\S+)'
"""
KERAS_LOG = (
    "Epoch 1/2\n\r1/2 - loss: 0.9\x08\x08\r2/2 - loss: 0.8 - val_loss: 0.75\n"
    "Epoch 2/2\n2/2 - loss: 0.6 - val_loss: oops\n2/2 - loss: 0.5 - val_loss: 1e-05\n"
)


def cli(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "metricwatch", *map(str, args)], capture_output=True, text=True
    )


def files(tmp_path: Path) -> tuple[Path, Path]:
    pack = tmp_path / "toy.toml"
    pack.write_text(PACK)
    log = tmp_path / "job1.log"
    log.write_text(KERAS_LOG)
    return pack, log


def test_extract_table_and_problems_on_stderr(tmp_path: Path) -> None:
    pack, log = files(tmp_path)
    out = cli("extract", log, "--patterns", pack)
    assert out.returncode == 0, out.stderr
    rows = [line.split() for line in out.stdout.splitlines()]
    assert rows == [
        ["job", "attempt", "epoch", "loss", "val_loss"],
        [str(log), "1", "1", "0.8", "0.75"],
        [str(log), "1", "2", "0.5", "1e-05"],
    ]
    assert "val_loss: captured 'oops', which is not a number" in out.stderr


def test_extract_csv_json_and_metric_filter(tmp_path: Path) -> None:
    pack, log = files(tmp_path)
    csv_out = cli("extract", log, "-p", pack, "--csv", "--metric", "val_loss").stdout
    assert csv_out.splitlines() == ["job,attempt,epoch,val_loss", f"{log},1,1,0.75", f"{log},1,2,1e-05"]
    rows = [json.loads(line) for line in cli("extract", log, "-p", pack, "--json").stdout.splitlines()]
    assert rows[1] == {"job": str(log), "attempt": 1, "epoch": 2, "loss": 0.5, "val_loss": 1e-05}


def test_extract_with_sagemaker_definitions_file(tmp_path: Path) -> None:
    log = tmp_path / "xgb.log"
    log.write_text("[0]#011train-rmse:19.6015#011validation-rmse:19.9713\n[1]\ttrain-rmse:3\n")
    out = cli("extract", log, "-p", XGB, "--csv", "--metric", "train:rmse")
    assert out.stdout.splitlines()[1:] == [f"{log},1,1,19.6015", f"{log},1,2,3"]


def test_bad_inputs_exit_2_with_one_line(tmp_path: Path) -> None:
    pack, _ = files(tmp_path)
    missing = cli("extract", tmp_path / "nope.log", "-p", pack)
    assert missing.returncode == 2 and "nope.log: log file not found" in missing.stderr
    bad = tmp_path / "bad.json"
    bad.write_text('[{"Name": "x", "Regex": "x=[0-9]+"}]')
    out = cli("extract", tmp_path / "nope.log", "-p", bad)
    assert out.returncode == 2 and "entry 1 (x)" in out.stderr and "capturing groups" in out.stderr
    assert "Traceback" not in out.stderr


def test_patterns_show_json_is_pasteable(tmp_path: Path) -> None:
    pack, _ = files(tmp_path)
    out = cli("patterns", "show", pack, "--json")
    defs = json.loads(out.stdout)
    assert [d["Name"] for d in defs] == ["loss", "val_loss"]
    assert "{NUM}" not in defs[0]["Regex"] and "nan" in defs[0]["Regex"]


def test_patterns_test_reports_matches_and_silent_definitions(tmp_path: Path) -> None:
    pack, log = files(tmp_path)
    extra = PACK + "[[metrics]]\nName = 'acc'\nRegex = ' - acc: ({NUM})'\n"
    pack.write_text(extra)
    out = cli("patterns", "test", pack, log, "--limit", "2")
    assert out.returncode == 0, out.stderr
    assert "line 2 (epoch 1): loss = '0.9'" in out.stdout
    assert "more matches" in out.stdout
    assert "never matched (1): acc" in out.stdout
    assert "NOT A NUMBER" not in out.stdout  # beyond --limit 2


def test_help_everywhere() -> None:
    for args in (["extract"], ["patterns"], ["patterns", "list"], ["patterns", "show"], ["patterns", "test"]):
        out = cli(*args, "--help")
        assert out.returncode == 0 and "Usage" in out.stdout
