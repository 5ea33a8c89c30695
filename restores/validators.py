"""Validation of a verifier's queries, with messages that say what to fix."""
from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError

_EXAMPLE = '[{"index": "logs-2026", "query": {"term": {"level": "error"}}, "hits": 12}]'


def validate_verifier_queries(value: Any) -> None:
    if value in (None, ""):
        return
    if not isinstance(value, list):
        raise ValidationError(f"Give a list of queries, e.g. {_EXAMPLE}.")
    for n, q in enumerate(value, 1):
        if not isinstance(q, dict):
            raise ValidationError(f"Query {n} is not an object: write it as {_EXAMPLE[1:-1]}.")
        unknown = sorted(set(q) - {"index", "query", "hits"})
        if unknown:
            raise ValidationError(f"Query {n} has unknown keys {', '.join(unknown)}: use index, query and hits.")
        if not isinstance(q.get("index"), str) or not q["index"].strip():
            raise ValidationError(f"Query {n} needs an index: the source index name (or pattern) it runs on.")
        if not isinstance(q.get("query"), dict) or not q["query"]:
            raise ValidationError(f"Query {n} needs a query object, e.g. {{\"match_all\": {{}}}}.")
        hits = q.get("hits")
        if not isinstance(hits, int) or isinstance(hits, bool) or hits < 0:
            raise ValidationError(f"Query {n} needs hits: the number of documents it must match (0 or more).")
