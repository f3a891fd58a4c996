"""Which processes a signal may reach: the job's processes, their trees and groups, minus what is protected.

Safety rules (issue 4 §5, research §10 "Killing the process (tree)"):

* never the daemon, any of its ancestors, PID 0 or PID 1, and never a tree rooted at one of them;
* never another user's process unless `allow_other_users` (real *and* effective uid must be allowed);
* never a process group that contains the daemon, and only a group that the job itself owns: its leader
  is one of the job's verified processes, or `metricwatch run` created it for the job;
* every PID is re-verified against its recorded start time before a signal (PID reuse).

Whole trees are taken because wrappers (`uv run`, `torchrun`, shells) do not pass signals on and DataLoader
workers outlive a killed parent (pytorch#1085, prime-rl#2158).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field

import psutil

from metricwatch.jobs import ProcessRef, live_process, own_uids, uid_allowed

Group = tuple[int, float | None]  # (pgid, start time of its leader when known)


@dataclass(frozen=True, slots=True)
class Guard:
    """The processes this daemon must never signal."""

    allowed_uids: frozenset[int] | None
    protected: frozenset[int]
    own_pgid: int

    @classmethod
    def current(cls, *, allow_other_users: bool = False) -> Guard:
        me = psutil.Process()
        protected = {0, 1, me.pid, *(p.pid for p in me.parents())}
        return cls(None if allow_other_users else own_uids(), frozenset(protected), os.getpgrp())

    def refusal(self, proc: psutil.Process) -> str | None:
        """Why `proc` must not be signalled, or None when it may be."""
        if proc.pid in self.protected:
            return "protected: the daemon, its ancestor or init"
        try:
            if not uid_allowed(proc, self.allowed_uids):
                return "another user's process (allow_other_users is off)"
        except psutil.Error:
            return "exited"
        return None


@dataclass
class Selection:
    """Processes chosen for one signal, and what was left alone and why."""

    procs: dict[int, psutil.Process] = field(default_factory=dict)
    skipped: dict[int, str] = field(default_factory=dict)
    groups: list[Group] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, proc: psutil.Process, guard: Guard) -> None:
        if proc.pid in self.procs or proc.pid in self.skipped:
            return
        why = guard.refusal(proc)
        if why is None:
            self.procs[proc.pid] = proc
        else:
            self.skipped[proc.pid] = why


def select(roots: Iterable[ProcessRef], *, scope: str, job_pgid: int | None, guard: Guard) -> Selection:
    """The verified live roots, their descendants and (scope "group") the groups the job owns."""
    sel = Selection()
    live: list[psutil.Process] = []
    for ref in roots:
        proc = live_process(ref)
        if proc is None:
            sel.skipped[ref.pid] = "exited or PID reused (start time differs)"
        elif proc.pid in guard.protected:
            sel.skipped[ref.pid] = "protected: the daemon, its ancestor or init"
        else:
            live.append(proc)
    _add_trees(sel, live, guard)
    if scope == "group":
        for pgid in _owned_groups(live, job_pgid, guard, sel):
            leader = live_process_start(pgid)
            sel.groups.append((pgid, leader))
            _add_group(sel, pgid, leader, guard)
    return sel


def reselect(refs: Iterable[ProcessRef], groups: Iterable[Group], guard: Guard) -> Selection:
    """Survivors for the escalation: signalled processes still alive, their new children, their groups."""
    sel = Selection()
    live = [proc for ref in refs if (proc := live_process(ref)) is not None]
    _add_trees(sel, live, guard)
    for pgid, leader in groups:
        _add_group(sel, pgid, leader, guard)
    return sel


def _add_trees(sel: Selection, roots: list[psutil.Process], guard: Guard) -> None:
    for root in roots:
        sel.add(root, guard)
        try:
            children = root.children(recursive=True)
        except psutil.Error:
            continue
        for child in children:
            sel.add(child, guard)


def _owned_groups(live: list[psutil.Process], job_pgid: int | None, guard: Guard, sel: Selection) -> set[int]:
    groups: set[int] = set()
    for proc in live:
        try:
            pgid = os.getpgid(proc.pid)
        except OSError:
            continue
        if pgid != proc.pid and pgid != job_pgid:
            sel.notes.append(f"pid {proc.pid} does not lead its process group {pgid}: tree only")
        elif pgid == guard.own_pgid or pgid <= 1:
            sel.notes.append(f"process group {pgid} contains the daemon: tree only")
        else:
            groups.add(pgid)
    return groups


def live_process_start(pid: int) -> float | None:
    try:
        return psutil.Process(pid).create_time()
    except psutil.Error:
        return None


def _add_group(sel: Selection, pgid: int, leader: float | None, guard: Guard) -> None:
    # A group id is not handed out again while the group has members; if a *different* process now has
    # the leader's PID, the old group emptied and the id was reused: leave it alone.
    if live_process_start(pgid) not in (None, leader):
        return
    for proc in psutil.process_iter():
        try:
            if os.getpgid(proc.pid) == pgid and proc.status() != psutil.STATUS_ZOMBIE:
                sel.add(proc, guard)
        except (OSError, psutil.Error):
            continue
