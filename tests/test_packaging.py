"""The wheel as users install it: the pattern packs and the demo script ship inside it.

Editable installs (what the other tests use) read patterns/ from the source tree, so only an installed
wheel shows whether `patterns list` and `demo` work after `pip install .`.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The wheel built from this checkout and unpacked into its own directory, first on sys.path (the
    dependencies come from the test environment)."""
    tmp = tmp_path_factory.mktemp("wheel")
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    subprocess.run([*pip, "wheel", "--no-deps", str(ROOT), "-w", str(tmp / "dist")], check=True)
    wheel = next((tmp / "dist").glob("metricwatch-*.whl"))
    subprocess.run([*pip, "install", "--no-deps", "--target", str(tmp / "site"), str(wheel)], check=True)
    return {**os.environ, "PYTHONPATH": str(tmp / "site")}


def run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    # Run from a directory without a metricwatch/ folder so the installed copy is the one imported.
    return subprocess.run(
        [sys.executable, "-m", "metricwatch", *args], capture_output=True, text=True, env=env, cwd="/"
    )


def test_installed_wheel_ships_every_pattern_pack(installed: dict[str, str]) -> None:
    where = subprocess.run(
        [sys.executable, "-c", "import metricwatch.packs as p; print(p.__file__, p.packs_dir())"],
        capture_output=True,
        text=True,
        env=installed,
        cwd="/",
        check=True,
    ).stdout.split()
    assert not where[0].startswith(str(ROOT)), "the source tree was imported, not the wheel"
    shipped = sorted(p.stem for p in (ROOT / "patterns").glob("*.toml"))
    assert sorted(p.stem for p in Path(where[1]).glob("*.toml")) == shipped
    listed = run(installed, "patterns", "list")
    assert listed.returncode == 0
    assert sorted(line.split()[0] for line in listed.stdout.splitlines()) == shipped


def test_installed_wheel_ships_the_demo_training_script(installed: dict[str, str]) -> None:
    code = "from metricwatch.demo import train_script; print(train_script())"
    path = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=installed, cwd="/", check=True
    ).stdout.strip()
    assert Path(path).is_file() and not path.startswith(str(ROOT))
