"""Renaming on restore: one regex (pattern → replacement) applied the same way to index
names, alias names and template/policy index patterns."""
from __future__ import annotations

import copy
import re
from dataclasses import dataclass
from typing import Any


def rename_errors(pattern: str, replacement: str) -> dict[str, str]:
    """{"rename_pattern" | "rename_replacement": what to fix}, empty when the rename is
    usable. The replacement is tried against the pattern with an always-matching empty
    alternative, so a group the pattern lacks (\\2 of one group) or a bad escape is found
    here, not halfway through a restore."""
    if not pattern:
        return {"rename_pattern": "Give the pattern the replacement applies to."} if replacement else {}
    try:
        compiled = re.compile(pattern)
    except re.error as e:
        return {"rename_pattern": f"Not a regular expression: {e}. Escape special characters like . and (."}
    try:
        probe = re.compile(f"(?:{pattern})|")
    except re.error:
        return {}  # e.g. global flags like (?i) must stay first: the pattern itself compiled
    try:
        probe.sub(replacement, "", count=1)
    except (re.error, IndexError) as e:
        groups = compiled.groups
        return {"rename_replacement": f"Does not fit the pattern: {e}. The pattern has {groups} group"
                                      f"{'' if groups == 1 else 's'}; refer to them as \\1, \\2 … or \\g<name>."}
    return {}


@dataclass(frozen=True)
class Renamer:
    pattern: str = ""
    replacement: str = ""

    def __post_init__(self) -> None:
        errors = rename_errors(self.pattern, self.replacement)
        if errors:
            raise ValueError("; ".join(f"{k}: {v}" for k, v in errors.items()))

    def __call__(self, name: str) -> str:
        if not self.pattern:
            return name
        return re.sub(self.pattern, self.replacement, name)

    def aliases(self, aliases: dict[str, Any]) -> dict[str, Any]:
        return {self(k): v for k, v in (aliases or {}).items()}

    def patterns(self, patterns: Any) -> Any:
        if isinstance(patterns, str):
            return self(patterns)
        if isinstance(patterns, list):
            return [self(p) for p in patterns]
        return patterns

    def template(self, body: dict[str, Any]) -> dict[str, Any]:
        """An index template (composable or legacy) with its patterns and aliases renamed."""
        if not self.pattern:
            return body
        body = copy.deepcopy(body)
        for key in ("index_patterns", "template"):
            if key in body and not isinstance(body[key], dict):
                body[key] = self.patterns(body[key])
        if isinstance(body.get("aliases"), dict):
            body["aliases"] = self.aliases(body["aliases"])
        inner = body.get("template")
        if isinstance(inner, dict) and isinstance(inner.get("aliases"), dict):
            inner["aliases"] = self.aliases(inner["aliases"])
        return body

    def policy(self, body: dict[str, Any]) -> dict[str, Any]:
        """An ISM policy's ism_template patterns renamed (ILM policies hold no patterns)."""
        if not self.pattern:
            return body
        body = copy.deepcopy(body)
        tpl = (body.get("policy") or {}).get("ism_template")
        for t in (tpl if isinstance(tpl, list) else [tpl] if isinstance(tpl, dict) else []):
            if "index_patterns" in t:
                t["index_patterns"] = self.patterns(t["index_patterns"])
        return body
