"""Pre/post hooks of backups and restores: an HTTP request, or a request to the
Elasticsearch cluster (e.g. POST _flush). Results are recorded on the session row."""
from __future__ import annotations

import json
import time
from typing import Any

import urllib3

from storage.models import Secret
from tenancy.models import Team


class HookFailed(Exception):
    pass


def _headers(team: Team, secret_name: str | None) -> dict[str, str]:
    if not secret_name:
        return {}
    secret = Secret.objects.filter(team=team, name=secret_name).first()
    if secret is None:
        raise HookFailed(f"headersSecret '{secret_name}' does not exist in team {team.slug}: create it or fix the hook")
    return secret.get_data()


def run_hook(hook: dict[str, Any], team: Team, conn: Any = None, outcome: dict[str, Any] | None = None) -> dict[str, Any]:
    """Run one hook; returns {name, ok, status, output}. Header values never reach the output."""
    name = hook.get("name") or hook.get("kind", "hook")
    method = str(hook.get("method", "POST")).upper()
    expected = int(hook.get("expectedStatus", 200))
    body = hook.get("body")
    if outcome is not None and body is None and hook.get("kind") == "http":
        body = outcome
    t0 = time.monotonic()
    secret_values: list[str] = []
    try:
        if hook.get("kind") == "elasticsearch":
            if conn is None:
                raise HookFailed("no cluster connection for an elasticsearch hook")
            path = "/" + str(hook["path"]).lstrip("/")
            response = conn.request(method, path, body, ok=(expected,))
            status, text = response.status, response.body.decode("utf-8", "replace")
        else:
            secret_headers = _headers(team, hook.get("headersSecret"))
            secret_values = [v for v in secret_headers.values() if len(v) >= 4]
            headers = {"Content-Type": "application/json", **secret_headers}
            data = json.dumps(body).encode() if isinstance(body, (dict, list)) else (str(body).encode() if body else None)
            http = urllib3.PoolManager(timeout=urllib3.Timeout(total=float(hook.get("timeout", 30))), retries=False)
            r = http.request(method, hook["url"], body=data, headers=headers)
            status, text = r.status, r.data.decode("utf-8", "replace")
    except HookFailed as e:
        return {"name": name, "ok": False, "status": None, "output": str(e), "duration": round(time.monotonic() - t0, 3)}
    except Exception as e:
        return {"name": name, "ok": False, "status": getattr(e, "status", None), "output": f"{type(e).__name__}: {e}"[:2000],
                "duration": round(time.monotonic() - t0, 3)}
    for value in secret_values:  # a server that echoes the request must not put a secret on the page
        text = text.replace(value, "[redacted]")
    ok = status == expected
    output = text[:2000] if ok else f"expected status {expected}, got {status}: {text[:2000]}"
    return {"name": name, "ok": ok, "status": status, "output": output, "duration": round(time.monotonic() - t0, 3)}


def run_hooks(hooks: list[dict[str, Any]], when: str, team: Team, conn: Any = None,
              outcome: dict[str, Any] | None = None) -> tuple[bool, list[dict[str, Any]]]:
    results = []
    ok = True
    for hook in hooks or []:
        result = run_hook(hook, team, conn, outcome)
        result["when"] = when
        results.append(result)
        ok = ok and result["ok"]
    return ok, results
