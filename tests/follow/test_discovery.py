"""Discovery: glob bases, symlink policy, non-regular files, network file systems, polling fallback."""

from __future__ import annotations

import glob
import os
from pathlib import Path

import pytest

from metricwatch.errors import ConfigError
from metricwatch.follow import EventKind, FileEvent, Follower
from metricwatch.follow.discovery import fs_type, glob_matches, is_network_fs, root_of

from .conftest import drain, texts


def test_root_of_splits_literal_base_from_wildcards(tmp_path: Path) -> None:
    assert root_of(f"{tmp_path}/*.log").base == str(tmp_path)
    assert not root_of(f"{tmp_path}/*.log").recursive
    deep = root_of(f"{tmp_path}/runs/*/train.log")
    assert (deep.base, deep.recursive) == (f"{tmp_path}/runs", True)
    assert root_of(f"{tmp_path}/runs/**/*.out").recursive


@pytest.mark.parametrize(
    "pattern", ["*.log", "runs/*/train.log", "runs/**/*.log", "runs/**/train.log*", "runs/[ab]/.hidden.log"]
)
def test_glob_matches_names_exactly_what_glob_finds(tmp_path: Path, pattern: str) -> None:
    """Judging a renamed name without listing its directory must agree with glob.glob itself."""
    names = [
        "a.log", ".h.log", "a.log.1", "runs/a/train.log", "runs/a/train.log.1", "runs/b/x/y/z.log",
        "runs/.hidden/train.log", "runs/a/.hidden.log", "runs/c.log", "other/a.log",
    ]  # fmt: skip
    for name in names:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).touch()
    root = root_of(str(tmp_path / pattern))
    found = set(glob.glob(root.pattern, recursive=True))
    every = {str(tmp_path / n) for n in names}
    assert found, pattern
    assert {p for p in every if glob_matches(root, p)} == found & every


def _follow(tmp_path: Path, pattern: str, **kw) -> list:
    with Follower([str(tmp_path / pattern)], mode="poll", **kw) as f:
        return drain(f)


def test_symlink_outside_the_tree_is_skipped_with_an_event(tmp_path: Path) -> None:
    """A link planted in a run directory must not make us read a file elsewhere."""
    secret = tmp_path / "outside" / "secret.txt"
    secret.parent.mkdir()
    secret.write_text("password=hunter2\n")
    (tmp_path / "runs").mkdir()
    (tmp_path / "runs" / "a.log").symlink_to(secret)
    items = _follow(tmp_path, "runs/*.log")
    assert texts(items) == []
    skip = [i for i in items if isinstance(i, FileEvent) and i.kind is not EventKind.POLLING]
    assert [(e.kind, e.reason) for e in skip] == [(EventKind.SKIPPED, "symlink_outside_tree")]


def test_symlink_outside_the_tree_is_followed_when_allowed(tmp_path: Path) -> None:
    target = tmp_path / "outside" / "real.log"
    target.parent.mkdir()
    target.write_text("epoch 1\n")
    (tmp_path / "runs").mkdir()
    (tmp_path / "runs" / "a.log").symlink_to(target)
    assert texts(_follow(tmp_path, "runs/*.log", allow_symlinks=True)) == ["epoch 1"]


def test_symlink_inside_the_tree_is_read_once(tmp_path: Path) -> None:
    """A link to a log that the glob also matches is the same file (same inode): one copy."""
    (tmp_path / "a.log").write_text("epoch 1\n")
    (tmp_path / "b.log").symlink_to(tmp_path / "a.log")
    items = _follow(tmp_path, "*.log")
    assert texts(items) == ["epoch 1"]
    assert any(getattr(i, "reason", "").startswith("same_file_as:") for i in items)


def test_fifo_is_skipped_without_blocking(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe.log")
    (tmp_path / "a.log").write_text("epoch 1\n")
    items = _follow(tmp_path, "*.log")
    assert texts(items) == ["epoch 1"]
    assert any(getattr(i, "reason", "") == "not_regular_file" for i in items)


def test_new_file_under_a_new_run_directory_is_found(tmp_path: Path) -> None:
    (tmp_path / "runs").mkdir()
    with Follower([str(tmp_path / "runs/*/train.log")], mode="poll", rescan_interval=0) as f:
        assert texts(drain(f)) == []
        (tmp_path / "runs" / "r7").mkdir()
        (tmp_path / "runs" / "r7" / "train.log").write_text("epoch 1\n")
        assert texts(drain(f)) == ["epoch 1"]


MOUNTINFO = """\
22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw
40 22 0:35 / /shared rw,relatime shared:20 - nfs4 srv:/export rw,vers=4.2
41 22 0:36 / /home/u/remote rw,relatime shared:21 - fuse.sshfs u@h:/ rw
42 22 0:37 / /scratch\\040space rw - lustre 10.0.0.1@tcp:/fs rw
"""


@pytest.mark.parametrize(
    ("path", "fstype", "network"),
    [
        ("/var/log/x.log", "ext4", ""),
        ("/shared/runs/a.log", "nfs4", "nfs4"),
        ("/home/u/remote/a.log", "fuse.sshfs", "fuse.sshfs"),
        ("/scratch space/a.log", "lustre", "lustre"),
        ("/sharedfoo/a.log", "ext4", ""),  # a prefix of the name is not a mount prefix
    ],
)
def test_network_fs_is_recognised_from_mountinfo(
    tmp_path: Path, path: str, fstype: str, network: str
) -> None:
    mountinfo = tmp_path / "mountinfo"
    mountinfo.write_text(MOUNTINFO)
    assert fs_type(path, str(mountinfo)) == fstype
    assert is_network_fs(path, str(mountinfo)) == network


def test_poll_mode_reports_that_it_polls(tmp_path: Path) -> None:
    items = _follow(tmp_path, "*.log")
    assert [(i.kind, i.reason) for i in items] == [(EventKind.POLLING, "requested")]


def test_bad_mode_is_a_config_error_naming_the_key(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        Follower([str(tmp_path / "*.log")], mode="fanotify")
    assert info.value.where == "follow.mode"
