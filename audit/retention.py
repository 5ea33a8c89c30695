"""The one path that deletes audit entries: those older than AUDIT_RETENTION_DAYS.

The PostgreSQL trigger (migration 0001) refuses every UPDATE and DELETE on the table
unless the transaction set `stashboard.audit_purge` first, which only this does."""
from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from audit.log import Actor, record
from audit.models import Action, Entry


def purge(now: datetime | None = None, days: int | None = None, actor: Actor | None = None) -> int:
    """Delete the entries older than `days` (default AUDIT_RETENTION_DAYS; 0 keeps all)
    and record that it did. Returns how many went."""
    days = settings.AUDIT_RETENTION_DAYS if days is None else days
    if days <= 0:
        return 0
    cutoff = (now or timezone.now()) - timedelta(days=days)
    table = connection.ops.quote_name(Entry._meta.db_table)
    with transaction.atomic(), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SET LOCAL stashboard.audit_purge = 'on'")
        cursor.execute(f"DELETE FROM {table} WHERE time < %s", [cutoff])
        removed = cursor.rowcount
        if connection.vendor == "postgresql":
            cursor.execute("SET LOCAL stashboard.audit_purge = 'off'")
    if removed:
        record(actor or Actor.system("audit retention"), None, Action.PURGED,
               details={"entries": removed, "before": cutoff.isoformat(), "retention_days": days})
    return removed
