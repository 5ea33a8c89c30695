from __future__ import annotations

from typing import Any

import pytest

from tests import factories as f


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings: Any) -> None:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def teams(db: Any) -> dict[str, Any]:
    """alice owns team A, bob views team A, charlie owns team B (STYLE.md)."""
    a = f.team("team-a", name="Team A")
    b = f.team("team-b", name="Team B")
    return {
        "a": a,
        "b": b,
        "alice": f.user("alice", a, "owner"),
        "bob": f.user("bob", a, "viewer"),
        "charlie": f.user("charlie", b, "owner"),
    }
