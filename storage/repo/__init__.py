"""The repository format and its operations (no Django import); see docs/repository-format.md."""
from __future__ import annotations

from .check import CheckResult
from .format import (
                     CorruptChunk,
                     LockedError,
                     RepositoryError,
                     SnapshotNotFound,
                     WrongPassword,
)
from .manifest import Manifest, StreamEntry, StreamInfo
from .prune import PruneResult
from .repository import ForgetResult, Repository
from .retention import RetentionRules, apply_retention, parse_period
from .writer import SnapshotWriter

__all__ = ["CheckResult", "CorruptChunk", "ForgetResult", "LockedError", "Manifest",
           "PruneResult", "Repository", "RepositoryError", "RetentionRules", "SnapshotNotFound",
           "SnapshotWriter", "StreamEntry", "StreamInfo", "WrongPassword", "apply_retention",
           "parse_period"]
