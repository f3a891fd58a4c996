"""One exception hierarchy. Only the CLI turns these into messages and exit codes.

Every error carries where the problem is (file, entry or key) so the message can say what to fix.
"""

from __future__ import annotations


class MetricwatchError(Exception):
    """Base class. `where` names the file/entry/key; `hint` says what to do about it."""

    exit_code = 1

    def __init__(self, message: str, *, where: str = "", hint: str = "") -> None:
        self.message = message
        self.where = where
        self.hint = hint
        super().__init__(str(self))

    def __str__(self) -> str:
        text = f"{self.where}: {self.message}" if self.where else self.message
        return f"{text} ({self.hint})" if self.hint else text


class ConfigError(MetricwatchError):
    """A configuration file or flag is invalid."""

    exit_code = 2


class PatternError(MetricwatchError):
    """A metric definition or pattern pack is invalid."""

    exit_code = 2


class InputError(MetricwatchError):
    """A log given on the command line cannot be read (missing, a directory, unreadable)."""

    exit_code = 2


class ActionError(MetricwatchError):
    """A stop action cannot be carried out or configured."""

    exit_code = 3
