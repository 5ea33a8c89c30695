from __future__ import annotations

from typing import Any

from django import forms

from dashboard.models import Profile
from dashboard.timezones import zone_choices


class ProfileForm(forms.ModelForm):
    class Meta:
        model = Profile
        fields = ["time_zone"]
        labels = {"time_zone": "Time zone"}
        help_texts = {"time_zone": "Every time the dashboard shows is in this zone, labelled; YAML exports and /metrics stay UTC."}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["time_zone"] = forms.ChoiceField(choices=zone_choices(), label="Time zone",
                                                     help_text=self.fields["time_zone"].help_text)
