"""Renaming on restore: one regex (pattern → replacement) applied the same way to index
names, alias names and template/policy index patterns."""
from __future__ import annotations

import copy
import re
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Renamer:
    pattern: str = ""
    replacement: str = ""

    def __post_init__(self) -> None:
        if self.pattern:
            try:
                re.compile(self.pattern)
            except re.error as e:
                raise ValueError(f"rename pattern {self.pattern!r} is not a valid regular expression: {e}") from e

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
