"""Run a sweep of trials the way a legacy job runs: one subprocess per trial, stdout+stderr → a file.

    python sweep.py OUTDIR SCRIPT '{"trial-01": {...}, ...}'

Each trial runs `python SCRIPT --truth OUTDIR/<trial>.truth.json --KEY VALUE ...`
with `> OUTDIR/<trial>.log 2>&1` (no TTY). OUTDIR/sweep.json records the order and hyperparameters.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path


def run_trial(outdir: Path, script: str, name: str, params: dict[str, object]) -> None:
    args = [sys.executable, script, "--truth", str(outdir / f"{name}.truth.json")]
    for key, value in params.items():
        args += [f"--{key}", str(value)]
    env = dict(os.environ, HF_HUB_OFFLINE="1", TOKENIZERS_PARALLELISM="false")
    with open(outdir / f"{name}.log", "wb") as log:
        subprocess.run(
            args, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env, check=True
        )


def main() -> None:
    outdir, script, trials = Path(sys.argv[1]), sys.argv[2], json.loads(sys.argv[3])
    outdir.mkdir(parents=True, exist_ok=True)
    for name, params in trials.items():
        print(f"  {outdir}/{name} {params}", flush=True)
        run_trial(outdir, script, name, params)
    sweep = {"script": Path(script).name, "trials": [{"name": n, "params": p} for n, p in trials.items()]}
    (outdir / "sweep.json").write_text(json.dumps(sweep, indent=1) + "\n")


if __name__ == "__main__":
    main()
