"""Shared by tests/test_config.py and tests/test_check.py: the shipped example, a minimal study, and
a helper that writes a config file."""

from __future__ import annotations

from pathlib import Path

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "metricwatch.toml"

MINIMAL = """
[[study]]
name = "sweep"
logs = "runs/*.log"
patterns = "keras3"
"""


def write(tmp_path: Path, text: str, name: str = "sweep.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path
