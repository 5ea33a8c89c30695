"""The dashboard's own rows: each user's settings (tenancy holds teams and members)."""
from __future__ import annotations

from zoneinfo import available_timezones

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models


def validate_time_zone(name: str) -> None:
    if name and name not in available_timezones():
        raise ValidationError(f"'{name}' is not a known time zone: choose an IANA name such as UTC or Europe/Berlin.")


class Profile(models.Model):
    """A user's own settings: the time zone every page shows times in (exports and
    /metrics stay UTC). Empty until the browser's zone is detected on the first visit."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, models.CASCADE, related_name="profile")
    time_zone = models.CharField(max_length=64, blank=True, validators=[validate_time_zone],
                                 help_text="IANA name, e.g. Europe/Berlin. Empty: your browser's zone, detected on your next visit.")

    def __str__(self) -> str:
        return f"{self.user} ({self.time_zone or 'zone not set'})"
