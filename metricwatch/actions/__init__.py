"""Stop actions: what happens to a job once a rule decides it should stop.

One class per action, one method `stop(job, decision) -> ActionOutcome`, all idempotent, all with a
`dry_run` flag. Build them from configuration with `build_action(spec)`:

    build_action("signal")
    build_action({"type": "signal", "grace": 30, "scope": "tree"})
    build_action({"type": "stop-file", "path": "{log_dir}/{log_stem}.stop"})
    build_action({"type": "command", "argv": ["scancel", "--signal=TERM", "{job_id}"]})

Construction errors (unknown type or key, bad signal, missing executable) raise `ActionError` naming the
key, so `metricwatch check` and daemon startup fail early (style.md §7 item 9).
"""

from __future__ import annotations

import contextlib
import importlib
from collections.abc import Mapping

from metricwatch.actions._base import Action, ActionOutcome, decision_reason
from metricwatch.actions._command import CommandAction
from metricwatch.actions._signal import Escalation, SignalAction
from metricwatch.actions._stop_file import StopFileAction
from metricwatch.errors import ActionError

ACTIONS: dict[str, type[Action]] = {
    StopFileAction.name: StopFileAction,
    SignalAction.name: SignalAction,
    CommandAction.name: CommandAction,
}

# Actions living in modules that may not exist yet (issue 5 adds Slurm); loaded on first use.
_OPTIONAL = {"slurm": ("metricwatch.actions._slurm", "SlurmAction")}


def build_action(
    spec: str | Mapping[str, object], *, where: str = "action", dry_run: bool | None = None
) -> Action:
    """An action from its name or a mapping with `type` plus that action's keys.

    `dry_run` given here overrides the spec's own `dry_run` key (the CLI's `--dry-run` wins).
    """
    params = dict({"type": spec} if isinstance(spec, str) else spec)
    kind = params.pop("type", None)
    spec_dry = params.pop("dry_run", False)
    if not isinstance(spec_dry, bool):
        raise ActionError(f"dry_run must be true or false, got {spec_dry!r}", where=f"{where}.dry_run")
    cls = _lookup(kind, where=where)
    return cls.from_spec(params, where=where, dry_run=spec_dry if dry_run is None else dry_run)


def _lookup(kind: object, *, where: str) -> type[Action]:
    if isinstance(kind, str) and kind not in ACTIONS and kind in _OPTIONAL:
        module, attr = _OPTIONAL[kind]
        with contextlib.suppress(ImportError, AttributeError):
            ACTIONS[kind] = getattr(importlib.import_module(module), attr)
    if not isinstance(kind, str) or kind not in ACTIONS:
        raise ActionError(
            f"unknown action type {kind!r}",
            where=f"{where}.type",
            hint=f"use one of {', '.join(sorted(ACTIONS))}",
        )
    return ACTIONS[kind]


__all__ = [
    "ACTIONS",
    "Action",
    "ActionOutcome",
    "CommandAction",
    "Escalation",
    "SignalAction",
    "StopFileAction",
    "build_action",
    "decision_reason",
]
