"""gunicorn's settings for Stashboard (`gunicorn -c python:dashboard.gunicorn_config
dashboard.wsgi`): its access and error logs in the format of every other process
(LOG_FORMAT, from dashboard.settings.LOGGING), and its control socket (gunicorn >= 23)
inside the data folder instead of ~/.gunicorn or $XDG_RUNTIME_DIR."""
from __future__ import annotations

from dashboard.settings import DATA_DIR, LOGGING

logconfig_dict = LOGGING
accesslog = "-"  # turns the access log on; its handler is LOGGING's
access_log_format = '%(h)s "%(r)s" %(s)s %(b)s %(M)sms "%(a)s"'

# A unix socket path has at most 107 bytes: a data folder deeper than that gets none.
_control = DATA_DIR / "gunicorn.ctl"
if len(str(_control).encode()) < 100:
    control_socket = str(_control)
else:
    control_socket_disable = True
