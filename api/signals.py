"""What the API tells the rest of Stashboard (the audit log connects here).

- `token_created(sender=ApiToken, token, user, request)` and
  `token_revoked(sender=ApiToken, token, user, request)`: from the Team settings views.
- `api_action(sender=ApiToken, token, request, action, kind, name, changed)`: after every
  write through the API succeeded. `action` is one of create, update, delete, backup,
  restore, cancel, check; `kind` and `name` say which resource (for backup: the
  configuration's BackupSession that was made; for restore: the RestoreSession);
  `changed` lists the top-level spec fields an update changed (empty otherwise).
No argument holds a token value or a secret value."""
from __future__ import annotations

from django.dispatch import Signal

token_created = Signal()
token_revoked = Signal()
api_action = Signal()
