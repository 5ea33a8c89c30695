"""Sign in and out, the team switcher, team settings (members, roles, notifications)."""
from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.contrib.auth.tokens import default_token_generator
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse, reverse_lazy
from django.utils.encoding import force_bytes
from django.utils.http import url_has_allowed_host_and_scheme, urlsafe_base64_encode
from django.views.decorators.http import require_POST

import audit
from audit.log import form_fields, member_added, member_removed, member_role_changed
from audit.models import Action
from dashboard import active_team
from dashboard.forms.team import AddMemberForm, NewTeamForm, NewUserForm, RoleForm, TeamSettingsForm
from dashboard.teams import provision_team
from dashboard.views.access import DashboardRequest, owned_team
from tenancy.models import Membership, Team


class SignInView(auth_views.LoginView):
    """Password sign-in and, when configured, the single sign-on button. With OIDC_ONLY
    the password form is neither shown nor accepted."""

    template_name = "auth/login.html"
    redirect_authenticated_user = True

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if settings.OIDC_ONLY:
            messages.error(request, "Password sign-in is turned off here: use single sign-on.")
            return self.render_to_response(self.get_context_data(), status=403)
        return super().post(request, *args, **kwargs)

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        ctx = super().get_context_data(**kwargs)
        ctx.update(sso_enabled=settings.OIDC_ENABLED, sso_label=settings.OIDC_LOGIN_LABEL,
                   password_enabled=not settings.OIDC_ONLY)
        return ctx


login = SignInView.as_view()
logout = auth_views.LogoutView.as_view()
# An invitation link is a password-reset link for an account that has no password yet:
# the token stops working once a password is set (or after PASSWORD_RESET_TIMEOUT).
invite = auth_views.PasswordResetConfirmView.as_view(
    template_name="auth/invite.html", post_reset_login=True,
    post_reset_login_backend="django.contrib.auth.backends.ModelBackend", success_url=reverse_lazy("dashboard:overview"))


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



def _settings_page(request: DashboardRequest, team: Team, *, form: TeamSettingsForm | None = None,
                   add_form: AddMemberForm | None = None, new_user_form: NewUserForm | None = None,
                   status: int = 200, **extra: Any) -> HttpResponse:
    members = Membership.objects.filter(team=team).select_related("user").order_by("user__username")
    return render(request, "team/settings.html", {
        "title": "Team settings", "members": members, "roles": Membership.Role.choices,
        "form": form or TeamSettingsForm(instance=team, prefix="team"),
        "add_form": add_form or AddMemberForm(team=team, prefix="member"),
        "new_user_form": new_user_form or NewUserForm(prefix="newuser"),
        **extra}, status=status)


@login_required
def team_settings(request: DashboardRequest) -> HttpResponse:
    team = owned_team(request)
    form = TeamSettingsForm(request.POST or None, instance=team, prefix="team")
    if request.method == "POST" and form.is_valid():
        with transaction.atomic():
            form.save()
            audit.record(request, team, Action.CHANGED, team, fields=form_fields(form))
        messages.success(request, "Team settings saved.")
        return redirect("tenancy:team-settings")
    return _settings_page(request, team, form=form)


@login_required
@require_POST
def member_add(request: DashboardRequest) -> HttpResponse:
    team = owned_team(request)
    add_form = AddMemberForm(request.POST, team=team, prefix="member")
    if add_form.is_valid():
        user = add_form.cleaned_data["username"]
        with transaction.atomic():
            member_added(request, Membership.objects.create(team=team, user=user, role=add_form.cleaned_data["role"]))
        messages.success(request, f"Added {user.username} as {add_form.cleaned_data['role']}.")
        return redirect("tenancy:team-settings")
    return _settings_page(request, team, add_form=add_form, status=400)


@login_required
@require_POST
def member_create(request: DashboardRequest) -> HttpResponse:
    """A new account in this team. With an invitation link the page shows the link once
    (only a token derived from the account is in it, as in a password-reset link)."""
    team = owned_team(request)
    form = NewUserForm(request.POST, prefix="newuser")
    if not form.is_valid():
        return _settings_page(request, team, new_user_form=form, status=400)
    d = form.cleaned_data
    with transaction.atomic():
        user = get_user_model().objects.create_user(d["username"], d["email"],
                                                    d["password"] if d["access"] == NewUserForm.PASSWORD else None)
        member_added(request, Membership.objects.create(team=team, user=user, role=d["role"]))
    if d["access"] == NewUserForm.PASSWORD:
        messages.success(request, f"Created {user.username} as {d['role']} of {team.name}: give them the password you chose.")
        return redirect("tenancy:team-settings")
    link = request.build_absolute_uri(reverse("tenancy:invite", args=[urlsafe_base64_encode(force_bytes(user.pk)),
                                                                       default_token_generator.make_token(user)]))
    messages.success(request, f"Created {user.username} as {d['role']} of {team.name}.")
    return _settings_page(request, team, invited=user, invite_link=link)


@login_required
@require_POST
def member_role(request: DashboardRequest, pk: int) -> HttpResponse:
    team = owned_team(request)
    m = get_object_or_404(Membership, team=team, pk=pk)
    form = RoleForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose owner, operator or viewer.")
    elif m.role == Membership.Role.OWNER and form.cleaned_data["role"] != Membership.Role.OWNER and \
            not Membership.objects.filter(team=team, role=Membership.Role.OWNER).exclude(pk=m.pk).exists():
        messages.error(request, "A team needs at least one owner: make someone else owner first.")
    else:
        old_role, m.role = m.role, form.cleaned_data["role"]
        with transaction.atomic():
            m.save(update_fields=["role"])
            member_role_changed(request, m, old_role)
        messages.success(request, f"{m.user.username} is now {m.role}.")
    return redirect("tenancy:team-settings")


@login_required
@require_POST
def member_remove(request: DashboardRequest, pk: int) -> HttpResponse:
    team = owned_team(request)
    m = get_object_or_404(Membership, team=team, pk=pk)
    if m.role == Membership.Role.OWNER and not Membership.objects.filter(team=team, role=Membership.Role.OWNER).exclude(pk=m.pk).exists():
        messages.error(request, "A team needs at least one owner: make someone else owner before removing this one.")
    else:
        with transaction.atomic():
            member_removed(request, m)
            m.delete()
        messages.success(request, f"Removed {m.user.username} from {team.name}.")
    return redirect(reverse("tenancy:team-settings"))


@login_required
def team_new(request: DashboardRequest) -> HttpResponse:
    """Superusers create teams; each starts with the quick start's local storage and
    retention policy (dashboard.teams.provision_team), and its creator as owner."""
    if not request.user.is_superuser:
        raise PermissionDenied("Only superusers create teams: ask one, or an owner to add you to theirs.")
    form = NewTeamForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        from storage import flows

        with transaction.atomic():
            team = form.save()
            audit.record(request, team, Action.CREATED, team, fields=form_fields(form))
            member_added(request, Membership.objects.create(team=team, user=request.user, role=Membership.Role.OWNER))
            made = provision_team(team)
            if made.storage is not None:
                flows.initialize_storage(made.storage)
        active_team.set_active(request, team)
        messages.success(request, f"Team {team.name} created with " + " and ".join(made.lines()) + ".")
        return redirect("tenancy:team-settings")
    return render(request, "team/new.html", {"title": "New team", "form": form}, status=400 if form.errors else 200)
