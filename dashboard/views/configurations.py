from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Prefetch, Sum
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

import audit
from audit.log import form_fields
from audit.models import Action
from backups.models import (
    BackupConfiguration,
    BackupSession,
    BackupSessionConfig,
    Snapshot,
)
from backups.validators import next_runs, validate_cron, validate_timezone
from dashboard import charts, deletion
from dashboard.forms.configurations import ConfigurationForm, SessionConfigForm
from dashboard.views import editing
from dashboard.views.access import (
    DashboardRequest,
    get_for_user,
    require_write,
    team_qs,
)


def _get_configuration_for_user(request: DashboardRequest, uuid: str, write: bool = False) -> BackupConfiguration:
    return get_for_user(request, BackupConfiguration.objects.select_related("target", "blueprint"), uuid, write=write)


def _follows_blueprint(request: DashboardRequest, config: BackupConfiguration) -> HttpResponse | None:
    """A configuration that follows its blueprint is changed there (or detached first):
    an edit here would be undone by the next reconcile."""
    if not config.follows_blueprint():
        return None
    messages.error(request, f"{config.name} is made from blueprint '{config.blueprint_name}' and follows it: change the "
                            "blueprint, or detach the configuration first to change it here.")
    return redirect("backups:configuration-detail", uuid=config.uuid)


def _ensure_repositories(configuration: BackupConfiguration) -> None:
    """Initialize the configuration's repositories; once all are Ready it turns Ready and
    an instant backup starts (backups.flows.configuration_saved)."""
    from backups import flows

    flows.configuration_saved(configuration)


@login_required
def configuration_list(request: DashboardRequest) -> HttpResponse:
    configs = (team_qs(request, BackupConfiguration).select_related("target")
               .prefetch_related(Prefetch("sessions", queryset=BackupSessionConfig.objects.prefetch_related("repositories")))
               .order_by("name"))
    return render(request, "configurations/list.html", {"title": "Backup configurations", "configurations": configs})


def _session_forms(request: DashboardRequest, team: Any, config_form: ConfigurationForm,
                   session: BackupSessionConfig | None) -> SessionConfigForm:
    instance = session or BackupSessionConfig(configuration=config_form.instance)
    return SessionConfigForm(request.POST or None, instance=instance, team=team, prefix="session")


@login_required
def configuration_new(request: DashboardRequest) -> HttpResponse:
    require_write(request)
    team = request.team
    form = ConfigurationForm(request.POST or None, team=team, prefix="config")
    session_form = _session_forms(request, team, form, None)
    if request.method == "POST":
        valid = form.is_valid() & session_form.is_valid()
        if valid:
            try:
                with transaction.atomic():
                    config = form.save()
                    saved = session_form.save_for(config)
                    audit.record(request, team, Action.CREATED, config,
                                 fields=form_fields(form) + [f"sessions.{saved.name}.{n}" for n in form_fields(session_form)])
                    _ensure_repositories(config)
            except IntegrityError:
                form.add_error("name", f"{team.name} already has a configuration named '{form.cleaned_data['name']}': choose another name.")
            except ValidationError as e:
                session_form.add_error(None, e)
            else:
                messages.success(request, f"Configuration '{config}' created: its repositories are being prepared, then a first backup runs.")
                return redirect("backups:configuration-detail", uuid=config.uuid)
    return render(request, "configurations/form.html", {"title": "New backup configuration", "form": form,
                                                        "session_form": session_form, **_form_preview(form, session_form)},
                  status=400 if request.method == "POST" else 200)


@login_required
def configuration_edit(request: DashboardRequest, uuid: str) -> HttpResponse:
    config = _get_configuration_for_user(request, uuid, write=True)
    refused = _follows_blueprint(request, config)
    if refused is not None:
        return refused
    back = reverse("backups:configuration-detail", args=[config.uuid])
    return editing.edit(request, ConfigurationForm, instance=config, title=f"Edit {config.name}", back_url=back,
                        back_label=config.name, success=lambda o: back, saved="Configuration '{obj}' saved.")


@login_required
def session_config_edit(request: DashboardRequest, uuid: str, name: str | None = None) -> HttpResponse:
    config = _get_configuration_for_user(request, uuid, write=True)
    refused = _follows_blueprint(request, config)
    if refused is not None:
        return refused
    session = get_object_or_404(config.sessions, name=name) if name else None
    form = ConfigurationForm(instance=config, team=request.team, prefix="config")
    session_form = SessionConfigForm(request.POST or None, instance=session or BackupSessionConfig(configuration=config),
                                     team=request.team, prefix="session")
    if request.method == "POST" and session_form.is_valid():
        try:
            with transaction.atomic():
                saved = session_form.save_for(config)
                audit.record(request, config.team, Action.CHANGED, config,
                             fields=[f"sessions.{saved.name}.{n}" for n in form_fields(session_form)] or [f"sessions.{saved.name}"])
                _ensure_repositories(config)
        except IntegrityError:
            session_form.add_error("name", f"{config.name} already has a session named '{session_form.cleaned_data['name']}'.")
        except ValidationError as e:
            session_form.add_error(None, e)
        else:
            messages.success(request, f"Session '{saved.name}' saved.")
            return redirect("backups:configuration-detail", uuid=config.uuid)
    return render(request, "configurations/session_form.html",
                  {"title": f"{'Edit' if session else 'Add'} session of {config.name}", "configuration": config,
                   "form": form, "session_form": session_form, **_form_preview(form, session_form)},
                  status=400 if session_form.errors else 200)


@login_required
def configuration_detail(request: DashboardRequest, uuid: str) -> HttpResponse:
    config = _get_configuration_for_user(request, uuid)
    sessions = list(config.sessions.prefetch_related("repositories__storage").select_related("retention_policy"))
    for s in sessions:
        # upcoming is a view-only value the template reads off each session: no field holds it.
        try:
            s.upcoming = s.next_runs(5)  # type: ignore[attr-defined]  # view-only, see above
        except (ValueError, KeyError):
            s.upcoming = []  # type: ignore[attr-defined]  # view-only, see above
    recent = list(BackupSession.objects.filter(configuration=config).annotate(size=Sum("snapshots__size_bytes")).order_by("-created")[:15])
    since = timezone.now() - timedelta(days=90)
    snaps = list(Snapshot.objects.filter(backup_session__configuration=config, phase=Snapshot.Phase.SUCCEEDED,
                                         created__gte=since).order_by("created").values("created", "size_bytes", "started", "finished"))
    size_points = [(s["created"], s["size_bytes"]) for s in snaps]
    dur_points = [(s["created"], (s["finished"] - s["started"]).total_seconds()) for s in snaps if s["started"] and s["finished"]]
    failed = list(Snapshot.objects.filter(backup_session__configuration=config, phase=Snapshot.Phase.FAILED,
                                          created__gte=since).order_by("created").values_list("created", flat=True))
    # The page polls while it shows something on its way: repositories initializing (then
    # the instant backup) or a session pending or running.
    initializing = config.phase == BackupConfiguration.Phase.NOT_READY and any(
        r.is_initializing() for s in sessions for r in s.repositories.all())
    completed = not initializing and all(s.is_completed() for s in recent)
    verified = (Snapshot.objects.filter(backup_session__configuration=config).exclude(verified=None)
                .order_by("-verified").only("uuid", "verification", "verified", "snapshot_id").first())
    return editing.live_detail(request, "configurations/detail.html", {
        "title": config.name, "configuration": config, "sessions": sessions, "recent": recent, "completed": completed,
        "initializing": initializing, "last_verified": verified,
        "size_chart": charts.line_chart(size_points, unit="bytes", label="Snapshot size (data backed up)", failures=failed),
        "duration_chart": charts.line_chart(dur_points, unit="seconds", label="Backup duration", failures=failed),
    }, completed=completed)


@login_required
@require_POST
def configuration_pause(request: DashboardRequest, uuid: str) -> HttpResponse:
    config = _get_configuration_for_user(request, uuid, write=True)
    refused = _follows_blueprint(request, config)
    if refused is not None:
        return refused
    config.paused = request.POST.get("paused", "1") == "1"
    if config.blueprint_id is not None and not config.paused:
        messages.error(request, f"{config.name} was paused by blueprint '{config.blueprint_name}': its cluster's labels no "
                                "longer match. Detach it to resume it as your own, or label the cluster to match again.")
        return redirect("backups:configuration-detail", uuid=config.uuid)
    config.blueprint_paused = config.blueprint_paused and config.paused  # resumed: no longer the blueprint's pause
    with transaction.atomic():
        config.save(update_fields=["paused", "blueprint_paused"])
        audit.record(request, config.team, Action.CHANGED, config, fields=["paused"], details={"paused": config.paused})
    messages.success(request, f"{config.name} {'paused: no scheduled backups until you resume it' if config.paused else 'resumed'}.")
    return redirect("backups:configuration-detail", uuid=config.uuid)


@login_required
@require_POST
def configuration_backup_now(request: DashboardRequest, uuid: str) -> HttpResponse:
    config = _get_configuration_for_user(request, uuid, write=True)
    name = request.POST.get("session")
    session_config = (config.sessions.filter(name=name).first() if name else config.sessions.order_by("name").first())
    if session_config is None:
        messages.error(request, f"{config.name} has no session to run: add one first.")
        return redirect("backups:configuration-detail", uuid=config.uuid)
    from backups import flows

    try:
        session = flows.trigger_backup(session_config, trigger="manual", user=request.user, actor=request)
    except ValidationError as e:
        messages.error(request, " ".join(e.messages))
        return redirect("backups:configuration-detail", uuid=config.uuid)
    messages.success(request, f"Backup of {config.name}/{session_config.name} started.")
    return redirect("backups:session-detail", uuid=session.uuid)


@login_required
def configuration_delete(request: DashboardRequest, uuid: str) -> HttpResponse:
    config = _get_configuration_for_user(request, uuid, write=True)
    n = BackupSession.objects.filter(configuration=config).count()
    kept = Snapshot.objects.filter(backup_session__configuration=config).count()
    back = reverse("backups:configuration-detail", args=[config.uuid])
    return editing.delete(request, config, title=f"Delete {config.name}", back_url=back,
                          success_url=reverse("backups:configuration-list"), blockers=deletion.blockers(config),
                          losses=[f"Its schedule: no more backups of {config.target}.",
                                  f"The history of {n} backup sessions. Their {kept} snapshots stay, in their repositories "
                                  "and on the repositories' pages, where they can still be browsed and restored."])


def _preview(schedule: str, tz: str) -> dict[str, Any]:
    """The next five run times of a cron schedule, or what is wrong with it; nothing for
    an empty schedule (the page asks for one)."""
    schedule, tz = (schedule or "").strip(), (tz or "").strip() or "UTC"
    error, runs = "", list[datetime]()
    if not schedule:
        return {"runs": runs, "error": error, "tz": tz}
    try:
        validate_cron(schedule)
        validate_timezone(tz)
        runs = next_runs(schedule, tz, 5)
    except ValidationError as e:
        error = " ".join(e.messages)
    except ValueError as e:  # croniter's CroniterBadDateError: fewer than five runs within its search window
        error = f"'{schedule}' has too few runs to show: {e}"
    return {"runs": runs, "error": error, "tz": tz}


def _form_preview(form: ConfigurationForm, session_form: SessionConfigForm) -> dict[str, Any]:
    """The preview of what the form holds, so a page shown again after an error (or an
    edit page) shows it as the live preview did."""
    return _preview(str(session_form["schedule"].value() or ""), str(form["timezone"].value() or ""))


@login_required
def schedule_preview(request: DashboardRequest) -> HttpResponse:
    """HTMX: the next five run times of a cron schedule, or what is wrong with it."""
    schedule = request.GET.get("session-schedule", request.GET.get("schedule", ""))
    tz = request.GET.get("config-timezone", request.GET.get("timezone", ""))
    if not schedule.strip():
        return render(request, "configurations/_session_fields.html#schedule-preview",
                      {"runs": [], "tz": tz, "error": "Give a cron schedule, e.g. '0 2 * * *' for every day at 02:00."})
    return render(request, "configurations/_session_fields.html#schedule-preview", _preview(schedule, tz))
