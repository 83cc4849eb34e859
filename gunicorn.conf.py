"""gunicorn's configuration for the host project: `make serve` (and `make run`) use it.

Every value can be changed from the environment (README.md, "Configuration
(environment variables)"); a command-line option beats this file.

The request timeout is not a guess: it is the longest any admin action may take
(a test against a server that answers each reply just inside the profile's
timeout is the longest), as smtpconfig computes it from the settings, plus a
margin for the database and the page. Raise ``SMTPCONFIG_MAX_CONVERSATION_SECONDS``
and the timeout follows. Reading the settings here also means that a production
start without its keys stops now, in the master, with one line saying what to set
(mailsettings/settings.py), instead of in every worker.
"""

import math
import multiprocessing
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent
if str(ROOT) not in sys.path:  # gunicorn reads this file before it adds its own folder
    sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mailsettings.settings")

from mailsettings.startup import require_keys  # noqa: E402

# A start without its keys stops here, in the master, with one line saying what to set.
require_keys()

from smtpconfig.limits import longest_request_seconds  # noqa: E402


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name, "").strip()
    return int(value) if value else default


# Where to listen: GUNICORN_BIND ("127.0.0.1:8000", "unix:/run/mailsettings.sock"), else the
# port a platform gives in PORT (on every interface then), else 127.0.0.1:8000 behind a proxy.
bind = os.environ.get("GUNICORN_BIND") or (
    f"0.0.0.0:{os.environ['PORT']}" if os.environ.get("PORT") else "127.0.0.1:8000"
)

# Processes: 2 per core plus one, at most 8 (each holds its own database connections and
# connection pool); GUNICORN_WORKERS, or WEB_CONCURRENCY as platforms set it, decides instead.
workers = _env_int(
    "GUNICORN_WORKERS",
    _env_int("WEB_CONCURRENCY", min(2 * multiprocessing.cpu_count() + 1, 8)),
)
# Threads per process (gunicorn's gthread worker): a test that waits on a slow SMTP server
# holds one thread, not a whole process. GUNICORN_THREADS=1: the sync worker.
threads = _env_int("GUNICORN_THREADS", 4)
worker_class = "gthread" if threads > 1 else "sync"

# Seconds added to smtpconfig's longest request for the database and the page's rendering.
TIMEOUT_MARGIN = float(os.environ.get("GUNICORN_TIMEOUT_MARGIN") or 10)
# With the sync worker, a request that runs longer gets its worker killed (a 502 or 500 for
# the user, and a test whose outcome is never recorded); with threads, a worker that stops
# answering the master for this long is. Either way it must outlast the longest request.
timeout = math.ceil(longest_request_seconds() + TIMEOUT_MARGIN)
# On a restart or stop (SIGTERM), requests in flight have this long to finish: the longest.
graceful_timeout = timeout
keepalive = 5

# The access log to stdout, the error log to stderr (journald or the container collects both).
accesslog = "-"
errorlog = "-"
loglevel = os.environ.get("GUNICORN_LOG_LEVEL", "info")

# Who may set X-Forwarded-Proto and friends (gunicorn's own use of them): the proxy's
# addresses, comma-separated; gunicorn's default trusts 127.0.0.1 only. "*" only when
# nothing but the proxy can reach the port. Django reads the headers through
# DJANGO_SECURE_PROXY_SSL_HEADER and DJANGO_USE_X_FORWARDED_HOST.
forwarded_allow_ips = os.environ.get("GUNICORN_FORWARDED_ALLOW_IPS", "127.0.0.1,::1")

wsgi_app = "mailsettings.wsgi:application"

# No control socket (gunicorn 24+: one per user, $HOME/.gunicorn/gunicorn.ctl): two
# instances on one machine, such as `make run` beside `make serve`, would share it.
control_socket_disable = True
