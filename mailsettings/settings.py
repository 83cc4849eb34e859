"""Settings of the host project that ships with smtpconfig (the demo that `make run` starts).

Everything that differs between machines comes from the environment (README.md,
"Configuration (environment variables)", lists every variable). What a first run
needs (the database, the Django secret key, the SMTP password encryption key)
lives in the ignored runtime folder ``var/`` unless ``DJANGO_SECRET_KEY`` and
``SMTPCONFIG_ENCRYPTION_KEYS`` are set.

With ``DJANGO_DEBUG`` off, a process that would run without either key stops
with one line saying what to set (mailsettings/startup.py, called by every entry
point); ``make setup`` writes both into ``var/``. With ``DJANGO_PRODUCTION`` on
(``make serve``), nothing is made or read under ``var/`` for the keys: both come
from the environment, and HTTPS is assumed (secure cookies, redirect to https://,
HSTS). Only a development start (``DJANGO_DEBUG`` on) makes ``var/secret_key``
itself.
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


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name, "").strip()
    return int(value) if value else default


# Production: keys from the environment only, HTTPS assumed (see the module's docstring).
PRODUCTION = _env_flag("DJANGO_PRODUCTION")
DEBUG = _env_flag("DJANGO_DEBUG")


def _secret_key() -> str:
    """DJANGO_SECRET_KEY, else var/secret_key (``make setup`` writes it). Only a development
    start (DEBUG on) makes the file itself; '' when there is none."""
    if os.environ.get("DJANGO_SECRET_KEY", "").strip():
        return os.environ["DJANGO_SECRET_KEY"]
    if PRODUCTION:
        return ""
    path = RUNTIME_DIR / "secret_key"
    if not path.exists() and DEBUG:
        RUNTIME_DIR.mkdir(parents=True, exist_ok=True)
        try:
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another process made it first
            pass
        else:
            with os.fdopen(descriptor, "w") as key_file:
                key_file.write(secrets.token_urlsafe(50))
    return path.read_text().strip() if path.exists() else ""


def _encryption_keys() -> str:
    """smtpconfig's keys: the environment variable if set (even empty), else (not in
    production) var/encryption.key, which ``make setup`` writes; '' when there is none."""
    if "SMTPCONFIG_ENCRYPTION_KEYS" in os.environ or PRODUCTION:
        return os.environ.get("SMTPCONFIG_ENCRYPTION_KEYS", "")
    path = RUNTIME_DIR / "encryption.key"
    return path.read_text().strip() if path.exists() else ""


def _startup_problem(secret_key: str, encryption_keys: str) -> str:
    """Why this process must not serve or work, in one line saying what to set ('' if fine).

    Read by mailsettings.startup.require_keys() in every entry point (manage.py, the WSGI
    and ASGI applications, gunicorn.conf.py), not here: the commands that make the keys
    must load these settings without them. With DEBUG on (development) nothing is required.
    """
    missing = [
        name
        for name, value in (
            ("DJANGO_SECRET_KEY", secret_key),
            ("SMTPCONFIG_ENCRYPTION_KEYS", encryption_keys.strip()),
        )
        if not value
    ]
    if PRODUCTION:
        if missing:
            return (
                f"DJANGO_PRODUCTION is on: set {' and '.join(missing)} in the environment "
                '(README.md, "Running in production", says how to make them).'
            )
        if DEBUG:
            return (
                "DJANGO_PRODUCTION is on: unset DJANGO_DEBUG (its error page shows the settings)."
            )
        return ""
    if DEBUG or not missing:
        return ""
    where = {
        "DJANGO_SECRET_KEY": f"DJANGO_SECRET_KEY (or write it to {RUNTIME_DIR / 'secret_key'})",
        "SMTPCONFIG_ENCRYPTION_KEYS": (
            "SMTPCONFIG_ENCRYPTION_KEYS (or run `python manage.py smtp_generate_key "
            f"--file {RUNTIME_DIR / 'encryption.key'}`)"
        ),
    }
    return (
        f"DJANGO_DEBUG is off: set {' and '.join(where[name] for name in missing)}; "
        "`make setup` makes both for a development machine."
    )


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


# Error reports (the debug page, mails to ADMINS) hide secrets also with DEBUG on.
DEFAULT_EXCEPTION_REPORTER_FILTER = "smtpconfig.error_reports.SecretSafeExceptionReporterFilter"
SECRET_KEY = _secret_key()
_ENCRYPTION_KEYS = _encryption_keys()
#: What is missing for a start (one line; '' when nothing): mailsettings.startup reads it.
MAILSETTINGS_STARTUP_PROBLEM = _startup_problem(SECRET_KEY, _ENCRYPTION_KEYS)
ALLOWED_HOSTS = os.environ.get("DJANGO_ALLOWED_HOSTS", "127.0.0.1,localhost,[::1]").split(",")
CSRF_TRUSTED_ORIGINS = [
    origin for origin in os.environ.get("DJANGO_CSRF_TRUSTED_ORIGINS", "").split(",") if origin
]

# HTTPS: on in production, off for `make run` (plain http on 127.0.0.1). DJANGO_HTTPS sets
# the defaults of the four below; each has its own variable too.
HTTPS = _env_flag("DJANGO_HTTPS", default=PRODUCTION)
SECURE_SSL_REDIRECT = _env_flag("DJANGO_SECURE_SSL_REDIRECT", default=HTTPS)
SESSION_COOKIE_SECURE = _env_flag("DJANGO_SESSION_COOKIE_SECURE", default=HTTPS)
CSRF_COOKIE_SECURE = _env_flag("DJANGO_CSRF_COOKIE_SECURE", default=HTTPS)
# A year: browsers then refuse http:// for this host (not its subdomains unless asked).
SECURE_HSTS_SECONDS = _env_int("DJANGO_SECURE_HSTS_SECONDS", 31_536_000 if HTTPS else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = _env_flag("DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS")
SECURE_HSTS_PRELOAD = _env_flag("DJANGO_SECURE_HSTS_PRELOAD")
# A load balancer probes the health checks over plain http on the app's own port.
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]

# Behind a reverse proxy that ends TLS: the header it sets to "https" for a secure request
# (such as X-Forwarded-Proto). Only set it when the proxy overwrites that header on every
# request: a client could otherwise claim https itself.
_PROXY_SSL_HEADER = os.environ.get("DJANGO_SECURE_PROXY_SSL_HEADER", "").strip()
if _PROXY_SSL_HEADER:
    SECURE_PROXY_SSL_HEADER = ("HTTP_" + _PROXY_SSL_HEADER.upper().replace("-", "_"), "https")
# The proxy's X-Forwarded-Host as the request's host (links in mails, the OAuth2 redirect).
USE_X_FORWARDED_HOST = _env_flag("DJANGO_USE_X_FORWARDED_HOST")

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

# A cache every gunicorn worker and every host shares, so that the admin's test rate limit
# counts each user once, not once per worker: the database's by default (`make run`
# creates its table, `manage.py createcachetable`), or the Redis server DJANGO_CACHE_URL
# names (redis://host:6379/1, rediss:// for TLS; needs the redis package, in `.[rq]`).
_CACHE_URL = os.environ.get("DJANGO_CACHE_URL", "").strip()
if not _CACHE_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.db.DatabaseCache",
            "LOCATION": "mailsettings_cache",
        }
    }
elif urlsplit(_CACHE_URL).scheme in {"redis", "rediss", "unix"}:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": _CACHE_URL,
        }
    }
else:
    raise ValueError("DJANGO_CACHE_URL must be a redis://, rediss:// or unix:// URL.")
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
    "ENCRYPTION_KEYS": _ENCRYPTION_KEYS,
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
# Seconds one whole SMTP conversation (a test first of all) may take; unset: smtpconfig's
# default, 25. gunicorn.conf.py derives the request timeout from it.
if os.environ.get("SMTPCONFIG_MAX_CONVERSATION_SECONDS"):
    SMTPCONFIG["MAX_CONVERSATION_SECONDS"] = float(
        os.environ["SMTPCONFIG_MAX_CONVERSATION_SECONDS"]
    )

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
    "filters": {"require_debug_false": {"()": "django.utils.log.RequireDebugFalse"}},
    "handlers": {
        # Django's own: a 500 mailed to ADMINS when DEBUG is off (its report filtered by
        # smtpconfig's SecretSafeExceptionReporterFilter).
        "mail_admins": {
            "level": "ERROR",
            "filters": ["require_debug_false"],
            "class": "django.utils.log.AdminEmailHandler",
        },
        "console": {
            "class": "logging.StreamHandler",
            "stream": "ext://sys.stdout",
            "formatter": "chosen",
        },
    },
    "loggers": {
        "smtpconfig": {"handlers": ["console"], "level": "INFO"},
        # Django's own warnings and errors (a 500's traceback, a refused Host, a CSRF
        # failure): with DEBUG off they would otherwise go nowhere but ADMINS' mail.
        "django": {"handlers": ["console", "mail_admins"], "level": "WARNING"},
    },
}
