"""Puts tests/ on sys.path (pytest's default import mode adds each conftest's folder), so tests in any
subfolder import the shared helpers beside this file, e.g. `watch_support` from tests/slurm/."""
