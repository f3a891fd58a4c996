"""Which log files the globs describe right now, which directories to watch, and which paths to refuse.

Discovery only names paths. Opening, identity and reading belong to the tailer; wake-ups to `wakeup.py`.

- A glob's **base** is its longest leading run of literal components (`runs/*/train.log` → `runs`). That
  directory is watched, recursively only when a wildcard sits in a directory component, so 1,000 logs
  in one directory cost one inotify watch, not 1,000 (research §6: watch directories, not files).
- A path whose real location is **outside its glob's base tree** (a symlinked log or directory pointing
  elsewhere) is refused unless `allow_symlinks=True`: a study must not read, say, `/etc/shadow` through a
  link planted in a run directory. Symlinks that stay inside the tree are followed.
- A **renamed name** is checked against the globs without listing the directory (`glob_matches`, same
  rules as `glob.glob(recursive=True)`): a wake-up saying "train.log was renamed to train.log.1" must be
  judged even though train.log no longer exists.
- **Network file systems** are found from /proc/self/mountinfo: inotify does not see writes made on other
  hosts (research §6, gorakhargosh/watchdog#504), so their directories are polled instead.
"""

from __future__ import annotations

import fnmatch
import glob
import os
from dataclasses import dataclass

# fs types (mountinfo field after " - ") where inotify misses remote writes; "fuse." covers sshfs & co.
NETWORK_FS = frozenset(
    {
        "nfs",
        "nfs4",
        "cifs",
        "smb3",
        "smbfs",
        "lustre",
        "gpfs",
        "beegfs",
        "ceph",
        "glusterfs",
        "9p",
        "afs",
        "ncpfs",
        "panfs",
        "pvfs2",
        "orangefs",
        "wekafs",
        "davfs",
        "fuse",
    }
)
_MAGIC = frozenset("*?[")


@dataclass(frozen=True, slots=True)
class Root:
    """The directory one glob's matches live under, and whether its subdirectories matter."""

    pattern: str  # the absolute glob
    base: str  # absolute, literal
    recursive: bool


def root_of(pattern: str) -> Root:
    """Split an absolute-ised glob into its literal base directory and the rest."""
    pattern = os.path.abspath(os.path.expanduser(pattern))
    parts = pattern.split(os.sep)
    literal: list[str] = []
    for part in parts[:-1]:
        if _MAGIC & set(part):
            break
        literal.append(part)
    base = os.sep.join(literal) or os.sep
    recursive = len(literal) < len(parts) - 1  # a wildcard in a directory component
    return Root(pattern, base, recursive)


def matches(root: Root) -> list[str]:
    """The regular paths the glob names now (sorted; symlink policy not yet applied)."""
    return sorted(glob.glob(root.pattern, recursive=True))


def glob_matches(root: Root, path: str) -> bool:
    """True when `glob.glob(root.pattern, recursive=True)` would name `path` if it existed.

    As glob: `**` spans zero or more directories, and a wildcard never matches a leading "." (hidden).
    """
    return _match_parts(root.pattern.split(os.sep), os.path.abspath(path).split(os.sep))


def _match_parts(pattern: list[str], parts: list[str]) -> bool:
    if not pattern:
        return not parts
    head = pattern[0]
    if head == "**":
        if _match_parts(pattern[1:], parts):
            return True
        return bool(parts) and not parts[0].startswith(".") and _match_parts(pattern, parts[1:])
    return bool(parts) and _match_name(head, parts[0]) and _match_parts(pattern[1:], parts[1:])


def _match_name(pattern: str, name: str) -> bool:
    if name.startswith(".") and not pattern.startswith("."):
        return False
    return fnmatch.fnmatchcase(name, pattern)


def escapes_root(path: str, root: Root) -> bool:
    """True when `path` (through any symlink, of the file or a directory) lies outside `root.base`."""
    real = os.path.realpath(path)
    base = os.path.realpath(root.base)
    return os.path.commonpath([real, base]) != base


def is_network_fs(path: str, mountinfo: str = "/proc/self/mountinfo") -> str:
    """The fs type when `path` is on a network/remote file system, else ""."""
    fstype = fs_type(path, mountinfo)
    if fstype in NETWORK_FS or fstype.startswith("fuse."):
        return fstype
    return ""


def fs_type(path: str, mountinfo: str = "/proc/self/mountinfo") -> str:
    """The fs type of the mount holding `path` (longest mount-point prefix), "" if unknown."""
    real = os.path.realpath(path)
    best, best_type = "", ""
    try:
        with open(mountinfo, encoding="utf-8", errors="replace") as fh:
            lines = fh.readlines()
    except OSError:
        return ""  # not Linux: no way to tell; inotify/kqueue is then tried
    for line in lines:
        left, sep, right = line.partition(" - ")
        fields = left.split()
        if not sep or len(fields) < 5 or not right.split():
            continue
        mount = _unescape(fields[4])
        inside = real == mount or real.startswith(mount.rstrip("/") + "/")
        if inside and len(mount) >= len(best):
            best, best_type = mount, right.split()[0]
    return best_type


def _unescape(field: str) -> str:
    """mountinfo escapes space, tab, newline and backslash as \\ooo octal."""
    if "\\" not in field:
        return field
    out, i = [], 0
    while i < len(field):
        if field[i] == "\\" and field[i + 1 : i + 4].isdigit():
            out.append(chr(int(field[i + 1 : i + 4], 8)))
            i += 4
        else:
            out.append(field[i])
            i += 1
    return "".join(out)
