"""Cluster labels and the label selectors of blueprints, as Kubernetes has them.

A label key is an optional DNS-subdomain prefix and '/', then a name of at most 63
characters; a value is at most 63 characters (or empty). A selector is matchLabels and
matchExpressions (In, NotIn, Exists, DoesNotExist), all of which must hold. The
dashboard writes selectors as `kubectl -l` does: `env=prod,tier in (gold,silver),!legacy`."""
from __future__ import annotations

import re
from typing import Any

from django.core.exceptions import ValidationError

_NAME = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")
_PREFIX = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
OPERATORS = ("In", "NotIn", "Exists", "DoesNotExist")
_CHARS = "letters, digits, '-', '_' and '.', beginning and ending with a letter or digit"


def key_error(key: Any) -> str | None:
    """What is wrong with a label key, or None."""
    if not isinstance(key, str) or not key:
        return "a label key is empty: write e.g. env or example.com/tier"
    prefix, _, name = key.rpartition("/")
    if "/" in key and not prefix:
        return f"label key '{key}' has an empty prefix before '/': write e.g. example.com/{name}"
    if prefix and (len(prefix) > 253 or not _PREFIX.match(prefix)):
        return (f"label key '{key}': the prefix '{prefix}' must be a DNS subdomain (lowercase letters, digits, '-' "
                "and '.', at most 253 characters), e.g. example.com")
    if len(name) > 63:
        return f"label key '{key}': the name after the prefix has {len(name)} characters; at most 63"
    if not _NAME.match(name):
        return f"label key '{key}': use {_CHARS}"
    return None


def value_error(key: str, value: Any) -> str | None:
    if not isinstance(value, str):
        return f"label '{key}': the value must be a string (quote it in YAML: '{value}')"
    if len(value) > 63:
        return f"label '{key}': the value has {len(value)} characters; at most 63"
    if value and not _NAME.match(value):
        return f"label '{key}': the value '{value}' may only hold {_CHARS} (or be empty)"
    return None


def validate_labels(labels: Any) -> None:
    """Cluster.labels: a mapping of valid keys to valid values."""
    if not isinstance(labels, dict):
        raise ValidationError("Labels must be a mapping of key to value, e.g. {\"env\": \"prod\"}.")
    errors = [e for k, v in labels.items() for e in (key_error(k) or value_error(k, v),) if e]
    if errors:
        raise ValidationError([e[0].upper() + e[1:] + "." for e in errors])


def selector_errors(selector: Any) -> list[tuple[str, str]]:
    """(path within the selector, message) for each problem; empty when it is valid."""
    if not isinstance(selector, dict):
        return [("", "the selector must be a mapping with matchLabels and/or matchExpressions")]
    out: list[tuple[str, str]] = []
    for key in selector:
        if key not in ("matchLabels", "matchExpressions"):
            out.append((str(key), "unknown field; the fields here are: matchExpressions, matchLabels"))
    labels = selector.get("matchLabels") or {}
    if not isinstance(labels, dict):
        out.append(("matchLabels", "expected a mapping of key to value"))
        labels = {}
    out += [(f"matchLabels.{k}", e) for k, v in labels.items() for e in (key_error(k) or value_error(str(k), v),) if e]
    exprs = selector.get("matchExpressions") or []
    if not isinstance(exprs, list):
        return out + [("matchExpressions", "expected a list of {key, operator, values}")]
    for i, expr in enumerate(exprs):
        out += [(f"matchExpressions[{i}]{'.' + p if p else ''}", m) for p, m in _expression_errors(expr)]
    if not labels and not exprs and not out:
        out.append(("", "the selector is empty and would match every cluster of the team: give matchLabels or "
                        "matchExpressions, e.g. matchLabels: {backup: gold}, and label the clusters to back up"))
    return out


def _expression_errors(expr: Any) -> list[tuple[str, str]]:
    if not isinstance(expr, dict):
        return [("", "expected a mapping with key, operator and values")]
    out = [(str(k), "unknown field; the fields here are: key, operator, values") for k in expr if k not in ("key", "operator", "values")]
    error = key_error(expr.get("key"))
    if error:
        out.append(("key", error))
    operator, values = expr.get("operator"), expr.get("values")
    if operator not in OPERATORS:
        out.append(("operator", f"'{operator}' is not an operator: use In, NotIn, Exists or DoesNotExist"))
    elif operator in ("In", "NotIn"):
        if not isinstance(values, list) or not values:
            out.append(("values", f"{operator} needs at least one value, e.g. values: [gold]"))
        else:
            out += [("values", e) for v in values for e in (value_error(str(expr.get("key")), v),) if e]
    elif values:
        out.append(("values", f"{operator} takes no values: remove them"))
    return out


def matches(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    """Whether labels satisfy every term of a (valid) selector."""
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expr in selector.get("matchExpressions") or []:
        key, operator, values = expr["key"], expr["operator"], expr.get("values") or []
        present = key in labels
        if operator == "In" and not (present and labels[key] in values):
            return False
        if operator == "NotIn" and present and labels[key] in values:
            return False
        if operator == "Exists" and not present:
            return False
        if operator == "DoesNotExist" and present:
            return False
    return True


# --- the `kubectl -l` syntax of the dashboard's form ------------------------------------

_SET_TERM = re.compile(r"^(?P<key>[^\s!=()]+)\s+(?P<op>in|notin)\s*\((?P<values>[^()]*)\)$")


def parse_selector(text: str) -> dict[str, Any]:
    """`env=prod,tier in (gold,silver),!legacy,backup` → a selector; the error names the term."""
    terms = [t.strip() for t in re.split(r",(?![^()]*\))", text or "") if t.strip()]
    labels: dict[str, str] = {}
    exprs: list[dict[str, Any]] = []
    for term in terms:
        found = _SET_TERM.match(term)
        if found:
            values = [v.strip() for v in found["values"].split(",") if v.strip()]
            exprs.append({"key": found["key"], "operator": "In" if found["op"] == "in" else "NotIn", "values": values})
        elif "!=" in term:
            key, value = (s.strip() for s in term.split("!=", 1))
            exprs.append({"key": key, "operator": "NotIn", "values": [value]})
        elif "=" in term:
            key, value = (s.strip() for s in term.replace("==", "=").split("=", 1))
            labels[key] = value
        elif term.startswith("!"):
            exprs.append({"key": term[1:].strip(), "operator": "DoesNotExist"})
        elif re.fullmatch(r"[^\s()=!,]+", term):
            exprs.append({"key": term, "operator": "Exists"})
        else:
            raise ValidationError(f"'{term}' is not a selector term: write key=value, key!=value, key in (a,b), "
                                  "key notin (a,b), key (it exists) or !key (it does not).")
    selector: dict[str, Any] = {}
    if labels:
        selector["matchLabels"] = labels
    if exprs:
        selector["matchExpressions"] = exprs
    return selector


def format_selector(selector: dict[str, Any]) -> str:
    """The inverse of parse_selector, for the form and the pages."""
    terms = [f"{k}={v}" for k, v in (selector.get("matchLabels") or {}).items()]
    for e in selector.get("matchExpressions") or []:
        values = ",".join(e.get("values") or [])
        terms.append({"In": f"{e['key']} in ({values})", "NotIn": f"{e['key']} notin ({values})",
                      "Exists": e["key"], "DoesNotExist": f"!{e['key']}"}.get(e.get("operator"), str(e)))
    return ", ".join(terms)


def parse_labels(text: str) -> dict[str, str]:
    """'key=value' lines (or comma-separated: each is a line) → labels; each error names the line."""
    labels: dict[str, str] = {}
    for n, line in enumerate(re.split(r"[\n,]", text or ""), 1):
        if not line.strip():
            continue
        if "=" not in line:
            raise ValidationError(f"Line {n}: '{line.strip()}' has no '=': write one key=value per line, e.g. env=prod.")
        key, value = (s.strip() for s in line.split("=", 1))
        error = key_error(key) or value_error(key, value)
        if error:
            raise ValidationError(f"Line {n}: {error}.")
        labels[key] = value
    return labels


def format_labels(labels: dict[str, str]) -> str:
    return "\n".join(f"{k}={v}" for k, v in sorted((labels or {}).items()))
