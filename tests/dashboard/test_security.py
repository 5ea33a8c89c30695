"""Production hardening: `check --deploy` is clean with the README's production settings,
failed password sign-ins are throttled (django-axes) and say so, sessions expire."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet
from django.contrib.auth.signals import user_login_failed
from django.test import Client, RequestFactory

from dashboard.security import client_ip

ROOT = Path(__file__).resolve().parents[2]


def readme_production_block() -> dict[str, str]:
    """The README's production block (README.md, "Production"), with real keys for its "…"."""
    readme = (ROOT / "README.md").read_text()
    block = re.search(r"\*\*HTTPS, cookies, sessions:\*\*.*?```sh\n(.*?)```", readme, re.S)
    assert block, "README.md has no production block"
    values = {}
    for line in block.group(1).splitlines():
        name, _, value = line.split("#")[0].strip().partition("=")
        values[name] = value.strip().strip('"')
    values["SECRET_KEY"] = "q3Jx8vK2mN7pL4sT9wY1zB6cF0gH5jR8uE2iO7aS3dV6kM9nP4lW1xZ"
    values["FIELD_ENCRYPTION_KEYS"] = Fernet.generate_key().decode()
    return values


PRODUCTION = readme_production_block()


def check_deploy(extra: dict[str, str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in PRODUCTION and not k.startswith("SECURE_")}
    env.update({"STASHBOARD_DATA_DIR": str(tmp_path), "DJANGO_SETTINGS_MODULE": "dashboard.settings", **extra})
    return subprocess.run([sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)


def test_check_deploy_is_clean_with_the_production_settings(tmp_path: Path) -> None:
    assert {"SECURE_SSL_REDIRECT", "SECURE_HSTS_SECONDS", "SESSION_COOKIE_SECURE", "CSRF_COOKIE_SECURE"} <= set(PRODUCTION)
    run = check_deploy(PRODUCTION, tmp_path)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "System check identified no issues" in run.stdout


def test_check_deploy_warns_without_them(tmp_path: Path) -> None:
    run = check_deploy({}, tmp_path)
    assert run.returncode != 0
    for code in ("security.W004", "security.W008", "security.W012", "security.W016"):
        assert code in run.stdout + run.stderr


def test_the_readme_lists_every_production_setting() -> None:
    readme = (ROOT / "README.md").read_text()
    for name in [*PRODUCTION, "SECURE_REDIRECT_EXEMPT", "SESSION_EXPIRE_AT_BROWSER_CLOSE", "AXES_FAILURE_LIMIT",
                 "AXES_COOLOFF_MINUTES", "STASHBOARD_TRUSTED_PROXIES", "STASHBOARD_API_MAX_WAIT"]:
        assert f"`{name}`" in readme, name


def sign_in(client: Client, password: str) -> Any:
    return client.post("/login/", {"username": "alice", "password": password})


def test_failed_sign_ins_are_throttled_per_username_and_address(teams: dict[str, Any], settings: Any) -> None:
    settings.AXES_FAILURE_LIMIT = 3
    failures: list[str] = []

    def receiver(credentials: dict[str, Any], request: Any = None, **kw: Any) -> None:
        failures.append(credentials.get("username", ""))

    user_login_failed.connect(receiver)
    try:
        client = Client()
        for _ in range(2):
            assert sign_in(client, "wrong").status_code == 200  # the form again, with its error
        assert sign_in(client, "wrong").status_code == 429  # the third
        locked = sign_in(client, "pw-alice")  # even the right password, now
    finally:
        user_login_failed.disconnect(receiver)
    assert locked.status_code == 429
    assert b"Too many failed sign-ins" in locked.content and b"alice" in locked.content
    assert "_auth_user_id" not in client.session
    assert failures[:3] == ["alice", "alice", "alice"]  # the signal the audit log listens to
    # another address is not locked out with it
    other = Client(REMOTE_ADDR="10.0.0.9")
    assert sign_in(other, "pw-alice").status_code == 302


def test_a_success_resets_the_count(teams: dict[str, Any], settings: Any) -> None:
    settings.AXES_FAILURE_LIMIT = 3
    client = Client()
    for _ in range(2):
        sign_in(client, "wrong")
    assert sign_in(client, "pw-alice").status_code == 302
    client.logout()
    for _ in range(2):
        sign_in(client, "wrong")
    assert sign_in(client, "pw-alice").status_code == 302


def test_sessions_expire(teams: dict[str, Any], settings: Any) -> None:
    client = Client()
    assert sign_in(client, "pw-alice").status_code == 302
    assert 0 < client.session.get_expiry_age() <= settings.SESSION_COOKIE_AGE == 12 * 3600
    cookie = client.cookies[settings.SESSION_COOKIE_NAME]
    assert int(cookie["max-age"]) == settings.SESSION_COOKIE_AGE


@pytest.mark.parametrize(("proxies", "forwarded", "expected"), [
    (0, "203.0.113.7", "127.0.0.1"),                  # no proxy: the header is the client's to forge
    (1, "198.51.100.1, 203.0.113.7", "203.0.113.7"),  # one proxy: the entry it appended
    (2, "198.51.100.1, 203.0.113.7, 10.0.0.2", "203.0.113.7"),
])
def test_the_throttled_address_behind_proxies(settings: Any, proxies: int, forwarded: str, expected: str) -> None:
    settings.TRUSTED_PROXIES = proxies
    request = RequestFactory().get("/", REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR=forwarded)
    assert client_ip(request) == expected
