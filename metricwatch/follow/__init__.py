"""Follow log files: discovery, identity, tailing and wake-ups → ordered Batches of Records.

Public: `Follower` and the values it returns. See follower.py for the loop and DESIGN.md for the contract.
"""

from metricwatch.follow.follower import MODES, Follower
from metricwatch.follow.identity import FileKey, FileState, Signature
from metricwatch.follow.values import Batch, EventKind, FileEvent, Item

__all__ = [
    "MODES",
    "Batch",
    "EventKind",
    "FileEvent",
    "FileKey",
    "FileState",
    "Follower",
    "Item",
    "Signature",
]
