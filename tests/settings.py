"""Test settings: the host project's, with fixed keys and fast hashing."""

import os
import tempfile

# Set before the host settings are read, so that they touch nothing under var/.
os.environ.setdefault("DJANGO_SECRET_KEY", "tests-only-not-secret")
os.environ.pop("SMTPCONFIG_ENCRYPTION_KEYS", None)

from mailsettings.settings import *  # noqa: E402,F403

# A fixed key for the tests; tests that need another key set it with the settings fixture.
TEST_ENCRYPTION_KEY = "rGBX3Nd8y-iYnwZKCZTq3a6rzYN4b1J0uE0hZgEw-M0="


def _free_udp_port() -> int:
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# Tests never ask the machine's resolver: every look-up goes to a DNS server on 127.0.0.1
# that conftest.py starts for the session (it knows no names unless a test says so).
TEST_DNS_ADDRESS = f"127.0.0.1:{_free_udp_port()}"
# Both keys are the tests' own (the secret key set above, the encryption key here), so a
# test's subprocess (manage.py, gunicorn) starts whatever the host settings found missing.
MAILSETTINGS_STARTUP_PROBLEM = ""
SMTPCONFIG = {
    "ENCRYPTION_KEYS": [TEST_ENCRYPTION_KEY],
    "DNS_NAMESERVERS": [TEST_DNS_ADDRESS],
    "DNS_TIMEOUT": 1.0,
}

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
# The test database is a file, so that a second process (a test's subprocess) can share it.
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):  # noqa: F405
    DATABASES["default"]["TEST"] = {  # noqa: F405
        "NAME": os.path.join(tempfile.gettempdir(), f"smtpconfig-tests-{os.getpid()}.sqlite3")
    }

# WhiteNoise wants STATIC_ROOT to exist; the tests serve static files from the apps instead.
STATIC_ROOT = tempfile.mkdtemp(prefix="smtpconfig-static-")
WHITENOISE_USE_FINDERS = True
ALLOWED_HOSTS = ["testserver", "127.0.0.1", "localhost"]
LOGGING = {"version": 1, "disable_existing_loggers": False}
