"""Team notifications: a Slack-compatible webhook and e-mail, on failure, on the first
success after a failure, and when a schedule has produced no successful snapshot for
the team's stale_after_hours."""
from __future__ import annotations

import json
import logging
from typing import Any

import urllib3
from django.conf import settings
from django.core.mail import send_mail

from tenancy.models import Team

log = logging.getLogger(__name__)


def send(team: Team, title: str, text: str, *, color: str = "danger", fields: dict[str, Any] | None = None) -> list[str]:
    """Returns what was sent (for tests and logs); a failing target is logged, never raised."""
    sent = []
    if team.webhook_url:
        payload = {
            "text": f"*{title}*\n{text}",
            "attachments": [{"color": color, "fields": [{"title": k, "value": str(v), "short": True} for k, v in (fields or {}).items()]}],
        }
        try:
            http = urllib3.PoolManager(timeout=urllib3.Timeout(total=10), retries=urllib3.Retry(2, backoff_factor=0.5))
            r = http.request("POST", team.webhook_url, body=json.dumps(payload).encode(), headers={"Content-Type": "application/json"})
            if r.status >= 300:
                log.warning("webhook of team %s answered %s", team.slug, r.status)
            else:
                sent.append("webhook")
        except Exception as e:
            log.warning("webhook of team %s failed: %s", team.slug, e)
    recipients = [a.strip() for a in team.notify_emails.splitlines() if a.strip()]
    if recipients:
        try:
            body = text + "".join(f"\n{k}: {v}" for k, v in (fields or {}).items())
            send_mail(f"[Stashboard] {title}", body, settings.DEFAULT_FROM_EMAIL, recipients)
            sent.append("email")
        except Exception as e:
            log.warning("e-mail to team %s failed: %s", team.slug, e)
    return sent


def session_finished(session: Any) -> list[str]:
    """Notify on failure, and on success right after a failure."""
    from backups.models import BackupSession, SessionPhase

    link = f"{settings.SITE_URL}/sessions/{session.uuid}/"
    fields = {"configuration": session.configuration.name, "session": session.session, "trigger": session.trigger}
    if session.phase == SessionPhase.FAILED:
        return send(session.team, f"Backup {session.name} failed", f"{session.error or 'see the session'}\n{link}", fields=fields)
    if session.phase == SessionPhase.SUCCEEDED:
        previous = (
            BackupSession.objects.filter(configuration=session.configuration, session=session.session,
                                         phase__in=(SessionPhase.SUCCEEDED, SessionPhase.FAILED), created__lt=session.created)
            .order_by("-created").values_list("phase", flat=True).first()
        )
        if previous == SessionPhase.FAILED:
            return send(session.team, f"Backup {session.configuration.name}/{session.session} recovered",
                        f"{session.name} succeeded after a failure.\n{link}", color="good", fields=fields)
    return []


def check_failed(repo: Any, summary: dict[str, Any]) -> list[str]:
    """storage.jobs.on_check_failed callback: a check found a bad chunk or manifest (or
    could not run), so the repository's integrity is false."""
    link = f"{settings.SITE_URL}/repositories/{repo.uuid}/"
    problems = summary.get("problems") or []
    text = "\n".join(problems[:10]) + (f"\n… and {len(problems) - 10} more" if len(problems) > 10 else "")
    read = "all data" if summary.get("read_data") else (f"data subset {summary['read_data_subset']}"
                                                        if summary.get("read_data_subset") else "no data")
    return send(repo.team, f"Repository {repo.name} failed its check", f"{text}\n{link}",
                fields={"repository": repo.name, "read": read, "bad chunks": len(summary.get("bad_chunks") or [])})


def verification_failed(run: Any) -> list[str]:
    """A BackupVerifier's run failed: its restore did not match the snapshot, or it could not run."""
    link = f"{settings.SITE_URL}/verifiers/{run.verifier.uuid}/"
    return send(run.team, f"Verification of snapshot {run.snapshot.snapshot_id[:8] or run.snapshot.name} failed",
                f"{run.error or 'see the verifier'}\n{link}",
                fields={"verifier": run.verifier.name, "repository": run.snapshot.repository.name, "trigger": run.trigger})
