"""node-oidc-provider (npm) as a real OpenID Connect provider for the single sign-on
tests: tests/peers/oidc_provider.mjs with one confidential client and test users."""
from __future__ import annotations

import contextlib
import json
import shutil
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .util import free_port, listening

SCRIPT = Path(__file__).with_name("oidc_provider.mjs")


@dataclass
class OIDCProvider:
    issuer: str  # http://127.0.0.1:PORT
    client_id: str
    client_secret: str
    users: dict[str, dict[str, Any]] = field(default_factory=dict)

    def discovery(self) -> dict[str, Any]:
        with urllib.request.urlopen(f"{self.issuer}/.well-known/openid-configuration", timeout=10) as r:
            return json.load(r)

    def set_users(self, users: dict[str, dict[str, Any]]) -> None:
        """Change users (their groups) while the provider runs: the next sign-in sees it."""
        self.users.update(users)
        req = urllib.request.Request(f"{self.issuer}/test/users", data=json.dumps(users).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=10):
            pass


@contextlib.contextmanager
def start_oidc_provider(tmp_path: Path, redirect_uris: list[str], users: dict[str, dict[str, Any]], *,
                        client_id: str = "stashboard", client_secret: str = "stashboard-test-client-secret",
                        timeout: float = 30.0) -> Iterator[OIDCProvider]:
    node = shutil.which("node")
    if node is None:
        raise RuntimeError("node not found: install Node.js (and `npm install` at the project root)")
    port = free_port()
    config = {"port": port, "users": users,
              "clients": [{"client_id": client_id, "client_secret": client_secret, "redirect_uris": redirect_uris}]}
    with listening([node, str(SCRIPT)], port, log=Path(tmp_path) / "oidc-provider.log", cwd=SCRIPT.parents[2],
                   env={"OIDC_TEST_CONFIG": json.dumps(config)}, timeout=timeout):
        yield OIDCProvider(f"http://127.0.0.1:{port}", client_id, client_secret, dict(users))
