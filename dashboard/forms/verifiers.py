from __future__ import annotations

import json
from typing import Any

from django import forms
from django.core.exceptions import ValidationError

from dashboard.forms.base import TeamModelForm
from restores.models import BackupVerifier
from restores.validators import validate_verifier_queries


def _parsed(text: Any) -> Any:
    try:
        return json.loads(text or "[]")
    except (TypeError, ValueError):
        return text


class QueriesField(forms.CharField):
    """JSON text: changed when it means other queries, not when it is spaced otherwise
    (the audit log names the fields an edit changed)."""

    def has_changed(self, initial: Any, data: Any) -> bool:
        return bool(_parsed(initial) != _parsed(data))


class VerifierForm(TeamModelForm):
    queries_json = QueriesField(
        label="Queries", required=False, widget=forms.Textarea(attrs={"rows": 3, "spellcheck": "false"}),
        help_text='JSON: each query runs on the restored index and must match this many documents, e.g. '
                  '[{"index": "logs-2026", "query": {"term": {"level": "error"}}, "hits": 12}]',
    )

    class Meta:
        model = BackupVerifier
        fields = ["name", "repository", "target", "schedule", "every_n_backups", "snapshots", "random_docs", "paused"]
        labels = {"target": "Scratch cluster", "every_n_backups": "After every N backups",
                  "random_docs": "Random documents to compare"}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk and self.instance.queries:
            self.initial["queries_json"] = json.dumps(self.instance.queries, indent=1)

    def clean_queries_json(self) -> list[Any]:
        text = (self.cleaned_data.get("queries_json") or "").strip()
        if not text:
            return []
        try:
            queries = json.loads(text)
        except json.JSONDecodeError as e:
            raise ValidationError(f"Not valid JSON at line {e.lineno}, column {e.colno}: {e.msg}.") from None
        # the model field is not on the form, so its validator runs here, under the field typed into
        validate_verifier_queries(queries)
        return queries  # type: ignore[no-any-return]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        # not a Meta field: construct_instance() leaves it alone, so it is set here
        self.instance.queries = data.get("queries_json") or []
        return data
