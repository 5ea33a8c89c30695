"""Imports point one way: dashboard → restores → backups → runtime → storage → tenancy
(docs/architecture.md). Function-level imports count too: they are a dependency all the same."""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ORDER = ["tenancy", "storage", "runtime", "backups", "restores", "dashboard"]  # bottom first


def _imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def test_no_app_imports_an_app_above_it() -> None:
    upward = []
    for level, app in enumerate(ORDER):
        above = set(ORDER[level + 1:])
        for path in sorted((ROOT / app).rglob("*.py")):
            if "migrations" in path.parts:
                continue
            upward += [f"{path.relative_to(ROOT)} imports {name}" for name in sorted(_imports(path) & above)]
    assert upward == []
