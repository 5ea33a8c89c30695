"""Sign in and out, the team switcher, team settings (members, roles, notifications)."""
from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from dashboard import active_team
from dashboard.forms.team import AddMemberForm, RoleForm, TeamSettingsForm
from dashboard.views.access import DashboardRequest, require_owner
from tenancy.models import Membership, Team

login = auth_views.LoginView.as_view(template_name="auth/login.html", redirect_authenticated_user=True)
logout = auth_views.LogoutView.as_view()


@login_required
@require_POST
def team_switch(request: DashboardRequest) -> HttpResponse:
    wanted = request.POST.get("team", "")
    team = next((t for t in active_team.resolve(request).teams if str(t.uuid) == wanted), None)
    if team is None:
        raise Http404("You are not in that team.")
    active_team.set_active(request, team)
    messages.success(request, f"Now working in {team.name}.")
    nxt = request.POST.get("next", "")
    if nxt and url_has_allowed_host_and_scheme(nxt, {request.get_host()}):
        return redirect(nxt)
    return redirect("dashboard:overview")


def _team_for_owner(request: DashboardRequest) -> Team:
    team = active_team.resolve(request).team
    if team is None:
        raise Http404("No team.")
    require_owner(request)
    return team


@login_required
def team_settings(request: DashboardRequest) -> HttpResponse:
    team = _team_for_owner(request)
    form = TeamSettingsForm(request.POST or None, instance=team, prefix="team")
    add_form = AddMemberForm(team=team, prefix="member")
    if request.method == "POST" and form.is_valid():
        form.save()
        messages.success(request, "Team settings saved.")
        return redirect("dashboard:team-settings")
    members = Membership.objects.filter(team=team).select_related("user").order_by("user__username")
    return render(request, "team/settings.html", {"title": "Team settings", "form": form, "add_form": add_form,
                                                  "members": members, "roles": Membership.Role.choices})


@login_required
@require_POST
def member_add(request: DashboardRequest) -> HttpResponse:
    team = _team_for_owner(request)
    add_form = AddMemberForm(request.POST, team=team, prefix="member")
    if add_form.is_valid():
        user = add_form.cleaned_data["username"]
        Membership.objects.create(team=team, user=user, role=add_form.cleaned_data["role"])
        messages.success(request, f"Added {user.username} as {add_form.cleaned_data['role']}.")
        return redirect("dashboard:team-settings")
    members = Membership.objects.filter(team=team).select_related("user").order_by("user__username")
    form = TeamSettingsForm(instance=team, prefix="team")
    return render(request, "team/settings.html", {"title": "Team settings", "form": form, "add_form": add_form,
                                                  "members": members, "roles": Membership.Role.choices}, status=400)


@login_required
@require_POST
def member_role(request: DashboardRequest, pk: int) -> HttpResponse:
    team = _team_for_owner(request)
    m = get_object_or_404(Membership, team=team, pk=pk)
    form = RoleForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose owner, operator or viewer.")
    elif m.role == Membership.Role.OWNER and form.cleaned_data["role"] != Membership.Role.OWNER and \
            not Membership.objects.filter(team=team, role=Membership.Role.OWNER).exclude(pk=m.pk).exists():
        messages.error(request, "A team needs at least one owner: make someone else owner first.")
    else:
        m.role = form.cleaned_data["role"]
        m.save(update_fields=["role"])
        messages.success(request, f"{m.user.username} is now {m.role}.")
    return redirect("dashboard:team-settings")


@login_required
@require_POST
def member_remove(request: DashboardRequest, pk: int) -> HttpResponse:
    team = _team_for_owner(request)
    m = get_object_or_404(Membership, team=team, pk=pk)
    if m.role == Membership.Role.OWNER and not Membership.objects.filter(team=team, role=Membership.Role.OWNER).exclude(pk=m.pk).exists():
        messages.error(request, "A team needs at least one owner: make someone else owner before removing this one.")
    else:
        m.delete()
        messages.success(request, f"Removed {m.user.username} from {team.name}.")
    return redirect(reverse("dashboard:team-settings"))
