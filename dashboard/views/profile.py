"""The user's own settings (their time zone)."""
from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from dashboard import timezones
from dashboard.forms.profile import ProfileForm
from dashboard.models import Profile, validate_time_zone
from dashboard.views.access import DashboardRequest


@login_required
def profile(request: DashboardRequest) -> HttpResponse:
    user = request.user
    assert user.is_authenticated  # login_required; narrows the type to a User
    instance = Profile.objects.filter(user=user).first() or Profile(user=user)
    form = ProfileForm(request.POST or None, instance=instance,
                       initial={"time_zone": instance.time_zone or timezones.user_zone(request) or "UTC"})
    if request.method == "POST" and form.is_valid():
        timezones.save_zone(request, form.cleaned_data["time_zone"])
        messages.success(request, f"Times are now shown in {form.cleaned_data['time_zone']}.")
        return redirect("dashboard:profile")
    return render(request, "profile/profile.html", {"title": "Your profile", "form": form},
                  status=400 if form.errors else 200)


@login_required
@require_POST
def profile_detected_zone(request: DashboardRequest) -> HttpResponse:
    """The browser's zone, sent by the page on a first visit: saved only while the user has
    chosen none, so a zone picked on the profile page is never overwritten."""
    name = request.POST.get("time_zone", "").strip()
    try:
        if not name:
            raise ValidationError("Send time_zone, e.g. Europe/Berlin.")
        validate_time_zone(name)
    except ValidationError as e:
        return HttpResponse(" ".join(e.messages), status=400, content_type="text/plain")
    if timezones.user_zone(request):
        return HttpResponse(status=204)
    timezones.save_zone(request, name)
    return HttpResponse(status=204)
