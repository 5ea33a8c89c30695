"""The audit log (issue 19): `audit.record(who, team, action, target, fields=..., details=...)`.

Importing `audit` loads no model: `record` imports audit.log when called, so any
module (another app's models, a settings-time import) may import this package."""
from __future__ import annotations

from typing import Any


def record(who: Any, team: Any, action: str, target: Any = None, **kwargs: Any) -> Any:
    from audit.log import record as _record

    return _record(who, team, action, target, **kwargs)
