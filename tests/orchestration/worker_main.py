"""A real RQ worker process (burst) on the test database, for the kill -9 and the
parallel tests: `python -m tests.orchestration.worker_main [QUEUE …]` (default backups)."""
from __future__ import annotations

import os
import sys

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dashboard.settings")
django.setup()

from django.conf import settings  # noqa: E402
from django.db import connections  # noqa: E402

# pytest-django created the test database; point this process at it.
settings.DATABASES["default"]["NAME"] = os.environ["STASHBOARD_TEST_DB_NAME"]
connections["default"].settings_dict["NAME"] = os.environ["STASHBOARD_TEST_DB_NAME"]
url = os.environ["REDIS_URL"]
settings.RQ_QUEUES = {n: {"URL": url, "DEFAULT_TIMEOUT": 600} for n in ("default", "backups", "restores", "maintenance")}

import django_rq  # noqa: E402
from rq import SimpleWorker  # noqa: E402

queues = [django_rq.get_queue(n) for n in (sys.argv[1:] or ["backups"])]
SimpleWorker(queues, connection=queues[0].connection).work(burst=True)
