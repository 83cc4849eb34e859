"""Settings of the host project that ships with smtpconfig (the demo that `make run` starts).

Everything that differs between machines comes from the environment; what a
first run needs (the database, the Django secret key) lives in the ignored
runtime folder ``var/``. The SMTP password encryption key is read from
``SMTPCONFIG_ENCRYPTION_KEYS`` or, when that variable is unset, from
``var/encryption.key``, which ``make run`` creates once.
"""

import os
import secrets
from pathlib import Path
from urllib.parse import unquote, urlsplit

BASE_DIR = Path(__file__).resolve().parent.parent
RUNTIME_DIR = Path(os.environ.get("MAILSETTINGS_RUNTIME_DIR", BASE_DIR / "var"))


def _env_flag(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _secret_key() -> str:
    """DJANGO_SECRET_KEY, or a random key made once into var/secret_key."""
    if os.environ.get("DJANGO_SECRET_KEY"):
        return os.environ["DJANGO_SECRET_KEY"]
    path = RUNTIME_DIR / "secret_key"
    if not path.exists():
        RUNTIME_DIR.mkdir(parents=True, exist_ok=True)
        try:
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another process made it first
            pass
        else:
            with os.fdopen(descriptor, "w") as key_file:
                key_file.write(secrets.token_urlsafe(50))
    return path.read_text().strip()


def _encryption_keys() -> str:
    """smtpconfig's keys: the environment variable if set (even empty), else var/encryption.key."""
    if "SMTPCONFIG_ENCRYPTION_KEYS" in os.environ:
        return os.environ["SMTPCONFIG_ENCRYPTION_KEYS"]
    path = RUNTIME_DIR / "encryption.key"
    return path.read_text().strip() if path.exists() else ""


# SQLite for a web server with several workers: write-ahead logging (readers never wait
# for the writer, a commit needs no fsync of the whole file) and transactions that take
# the write lock when they start, so two workers never deadlock upgrading a read lock.
_SQLITE_OPTIONS = {
    "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    "transaction_mode": "IMMEDIATE",
}


def _database(url: str | None) -> dict:
    """A DATABASES entry from DATABASE_URL (postgres:// or sqlite:///), else var/db.sqlite3."""
    if not url:
        return {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": RUNTIME_DIR / "db.sqlite3",
            "OPTIONS": _SQLITE_OPTIONS,
        }
    parts = urlsplit(url)
    if parts.scheme in {"postgres", "postgresql"}:
        return {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": unquote(parts.path.lstrip("/")),
            "USER": unquote(parts.username or ""),
            "PASSWORD": unquote(parts.password or ""),
            "HOST": parts.hostname or "",
            "PORT": str(parts.port or ""),
        }
    if parts.scheme == "sqlite":
        name = unquote(parts.path[1:]) or ":memory:"
        return {"ENGINE": "django.db.backends.sqlite3", "NAME": name, "OPTIONS": _SQLITE_OPTIONS}
    raise ValueError(f"DATABASE_URL scheme {parts.scheme!r} is not supported (postgres, sqlite).")


DEBUG = _env_flag("DJANGO_DEBUG")
# Error reports (the debug page, mails to ADMINS) hide secrets also with DEBUG on.
DEFAULT_EXCEPTION_REPORTER_FILTER = "smtpconfig.error_reports.SecretSafeExceptionReporterFilter"
SECRET_KEY = _secret_key()
ALLOWED_HOSTS = os.environ.get("DJANGO_ALLOWED_HOSTS", "127.0.0.1,localhost,[::1]").split(",")
CSRF_TRUSTED_ORIGINS = [
    origin for origin in os.environ.get("DJANGO_CSRF_TRUSTED_ORIGINS", "").split(",") if origin
]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    # Django's task framework (the django-tasks backport of Django 6.0's django.tasks) and
    # its database backend: the outbox's worker is `python manage.py db_worker`.
    "django_tasks",
    "django_tasks_db",
    "smtpconfig",
    "mailsettings",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "mailsettings.urls"
# Sign-in is the admin's: "Log in" after a password reset must lead there.
LOGIN_URL = "admin:login"
WSGI_APPLICATION = "mailsettings.wsgi.application"

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
            ],
        },
    },
]

DATABASES = {"default": _database(os.environ.get("DATABASE_URL"))}

# A cache every gunicorn worker shares (the database's), so that the admin's test rate
# limit counts each user once, not once per worker. `make run` creates its table.
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.db.DatabaseCache",
        "LOCATION": "mailsettings_cache",
    }
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LOCALE_PATHS = [BASE_DIR / "locale"]  # the host project's own strings (its templates)
LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English"), ("ru", "Русский")]
TIME_ZONE = os.environ.get("DJANGO_TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = RUNTIME_DIR / "static"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}

# The site's own mail (password reset first of all) is queued in the outbox, in the
# request's transaction, and sent by a worker through the default SMTP profile (with
# failover). "smtpconfig.backends.EmailBackend" sends within the request instead.
EMAIL_BACKEND = os.environ.get("DJANGO_EMAIL_BACKEND", "smtpconfig.backends.QueuedEmailBackend")

# Who runs the outbox's deliveries (docs/deploy.md), by DJANGO_TASKS_BACKEND:
# - "database" (the default): the database backend, whose worker is
#   `python manage.py db_worker`; nothing to run but the database. For one machine.
# - "rq": RQ on the Redis at REDIS_URL (install `.[rq]`); workers are
#   `python manage.py rqworker --with-scheduler default` on any number of machines that
#   share the database and Redis. The scheduler runs deferred retries when they are due.
TASKS_ENGINE = os.environ.get("DJANGO_TASKS_BACKEND", "database").strip().lower()
if TASKS_ENGINE == "database":
    TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
elif TASKS_ENGINE == "rq":
    INSTALLED_APPS.insert(INSTALLED_APPS.index("django_tasks_db") + 1, "django_rq")
    # RQ's queue of the same name as the task's (Django's default queue, "default").
    TASKS = {"default": {"BACKEND": "django_tasks_rq.RQBackend", "QUEUES": ["default"]}}
    RQ_QUEUES = {"default": {"URL": os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")}}
    # The job class that runs a django-tasks task, so that `rqworker` needs no --job-class.
    RQ = {"JOB_CLASS": "django_tasks_rq.Job"}
else:
    raise ValueError(f"DJANGO_TASKS_BACKEND {TASKS_ENGINE!r} is not supported (database, rq).")

DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "webmaster@localhost")
SMTPCONFIG = {
    "ENCRYPTION_KEYS": _encryption_keys(),
    # Nameservers for "Detect settings" and the sender-domain checks ("IP", "IP:port"),
    # comma-separated; unset: the system's resolver.
    "DNS_NAMESERVERS": [
        server.strip()
        for server in os.environ.get("SMTPCONFIG_DNS_NAMESERVERS", "").split(",")
        if server.strip()
    ],
}
# Seconds before a message that failed for a temporary reason is tried again (it doubles
# after each attempt); unset: smtpconfig's default, 20.
if os.environ.get("SMTPCONFIG_OUTBOX_RETRY_DELAY"):
    SMTPCONFIG["OUTBOX_RETRY_DELAY"] = float(os.environ["SMTPCONFIG_OUTBOX_RETRY_DELAY"])

# Log lines on stdout, one per line whatever a mail server replies, in the format
# DJANGO_LOG_FORMAT names: "text" (the default: time, level, logger, message), "json" (one
# object per line) or "keyvalue" (logfmt). JSON and key=value carry smtpconfig's event
# fields (event, profile, step, outcome, duration_ms, ...; README, "Health checks and logs").
LOG_FORMAT = os.environ.get("DJANGO_LOG_FORMAT", "text").strip().lower()
_LOG_FORMATTERS = {
    "text": "smtpconfig.log_format.TextFormatter",
    "json": "smtpconfig.log_format.JSONFormatter",
    "keyvalue": "smtpconfig.log_format.KeyValueFormatter",
}
if LOG_FORMAT not in _LOG_FORMATTERS:
    raise ValueError(f"DJANGO_LOG_FORMAT {LOG_FORMAT!r} is not supported (text, json, keyvalue).")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"chosen": {"()": _LOG_FORMATTERS[LOG_FORMAT]}},
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "stream": "ext://sys.stdout",
            "formatter": "chosen",
        }
    },
    "loggers": {"smtpconfig": {"handlers": ["console"], "level": "INFO"}},
}

# The health checks (/healthz, /readyz) answer over plain HTTP too: a load balancer probes
# the application's own port, which SECURE_SSL_REDIRECT would send to https://.
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]
