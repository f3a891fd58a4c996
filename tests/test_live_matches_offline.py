"""Following a real framework log as it is written gives exactly what `extract` reads from the
finished file: the same (job, attempt, metric, epoch, value text), none lost, none twice.

The logs are real framework output from sample_logs/ (a Keras 3 progress bar with its `\\b`, `\\r` and
ANSI codes, XGBoost, a Lightning TQDM bar, the HF Trainer). A writer process appends each one in random
slices (so lines, `\\r` frames and UTF-8 characters are split across reads), while the daemon follows
them; half-way through, the daemon is SIGKILLed and restarted.
"""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from metricwatch.extract import extract_file
from metricwatch.packs import load_pack
from metricwatch.state import StateStore

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parent.parent
CASES = {  # study name: (pack, source log)
    "keras3": ("keras3", "sample_logs/keras3/sweep/trial-02.log"),  # verbose=1: a progress bar
    "xgboost": ("xgboost", "sample_logs/xgboost/sweep/trial-01.log"),
    "lightning": ("lightning", "sample_logs/lightning/single/tqdm.log"),
    "hf": ("hf-trainer", "sample_logs/hf-trainer/single/tiny-bert.log"),
}
WRITER = """
import random, sys, time
data = open(sys.argv[1], "rb").read()
rng = random.Random(int(sys.argv[3]))
with open(sys.argv[2], "ab", buffering=0) as log:
    i = 0
    while i < len(data):
        n = rng.choice([1, 2, 3, 7, 16, 64, 200])
        log.write(data[i:i + n])
        i += n
        time.sleep(rng.uniform(0, 0.05))
"""


def config_for(tmp: Path) -> Path:
    studies = "".join(
        f'\n[[study]]\nname = "{name}"\nlogs = ["{name}/*.log"]\npatterns = "{pack}"\ndry_run = true\n'
        # A writer that ends while the daemon is down is never seen exiting: idleness completes it.
        '[study.completion]\nidle_timeout = "3s"\n'
        for name, (pack, _) in CASES.items()
    )
    path = tmp / "live.toml"
    path.write_text(f'[daemon]\nstate_db = "state.db"\npoll_interval = "0.5s"\n{studies}')
    return path


def start(config: Path, events: Path) -> subprocess.Popen[bytes]:
    with events.open("ab") as err:
        argv = [sys.executable, "-m", "metricwatch", "watch", str(config), "--log-format", "json"]
        return subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=err)


def stored(db: Path, study: str) -> list[tuple[object, ...]]:
    store = StateStore(db, readonly=True)
    try:
        return sorted(
            (o.job, o.attempt, o.metric, o.epoch, o.raw)
            for h in store.load_history(study)
            for o in h.observations
        )
    finally:
        store.close()


def test_live_following_with_a_restart_equals_offline_extraction(tmp_path: Path) -> None:
    config = config_for(tmp_path)
    events = tmp_path / "events.jsonl"
    daemon = start(config, events)
    time.sleep(1.5)
    writers = []
    for seed, (name, (_, source)) in enumerate(CASES.items()):
        (tmp_path / name).mkdir()
        log = tmp_path / name / "job.log"
        log.touch()
        writers.append(
            subprocess.Popen([sys.executable, "-c", WRITER, str(ROOT / source), str(log), str(seed)])
        )
    time.sleep(random.Random(1).uniform(0.8, 1.5))
    daemon.send_signal(signal.SIGKILL)
    daemon.wait()
    daemon = start(config, events)
    for w in writers:
        assert w.wait(timeout=120) == 0
    time.sleep(5.0)  # housekeeping sees the writers gone (or idle) and settles each job's last epoch
    daemon.send_signal(signal.SIGTERM)
    assert daemon.wait(timeout=20) == 0

    for name, (pack, source) in CASES.items():
        offline = extract_file(tmp_path / name / "job.log", load_pack(pack), job="job")
        expected = sorted((o.job, o.attempt, o.metric, o.epoch, o.raw) for o in offline.observations)
        assert expected, f"{source}: the pack reads nothing from it"
        assert stored(tmp_path / "state.db", name) == expected, f"{name}: live differs from offline"
