"""The ``SMTPCONFIG`` settings dict: every option and its default in one place.

Options are read at call time through :func:`get_setting`, never at import
time, so ``override_settings`` and per-process changes take effect at once.
"""

from __future__ import annotations

import os
from typing import Any

from django.conf import settings
from django.views.decorators.debug import sensitive_variables

from .exceptions import SMTPConfigImproperlyConfigured

#: Environment variable read when ``SMTPCONFIG["ENCRYPTION_KEYS"]`` is not set.
ENCRYPTION_KEYS_ENV = "SMTPCONFIG_ENCRYPTION_KEYS"


@sensitive_variables("raw")
def _keys_from_environment() -> list[str]:
    raw = os.environ.get(ENCRYPTION_KEYS_ENV, "")
    return [key.strip() for key in raw.split(",") if key.strip()]


# Each default is either a value or a callable that computes it at call time.
DEFAULTS: dict[str, Any] = {
    # Fernet keys, newest first: the first encrypts, every one decrypts.
    "ENCRYPTION_KEYS": _keys_from_environment,
    # Seconds a profile's timeout defaults to on a new profile.
    "DEFAULT_TIMEOUT": 10,
    # Write a DeliveryLog row for every message the backend sends or fails to send.
    "DELIVERY_LOG": True,
    # Days a delivery log row is kept by `manage.py smtp_prune_log`.
    "DELIVERY_LOG_RETENTION_DAYS": 30,
    # Alias of a Django cache shared by all processes (such as "default" backed by Redis):
    # profile changes are then announced through it and opening a connection makes no
    # database query, and OAuth2 access tokens are shared there (encrypted) instead of
    # each process asking for its own. None: each new connection checks the database
    # with one small query; tokens are kept per process.
    "CACHE": None,
    # Nameservers for settings discovery and sender-domain checks: a list of "IP",
    # "IP:port" or "[IPv6]:port". Empty: the system's resolver.
    "DNS_NAMESERVERS": [],
    # Seconds one DNS look-up may take, retries included.
    "DNS_TIMEOUT": 1.5,
    # Ports "Detect settings" tries on guessed hosts (smtp.<domain>, mail.<domain>).
    "DISCOVERY_PORTS": [465, 587],
    # Networks no test, discovery or send may connect to: link-local (most clouds' metadata
    # service, 169.254.169.254), AWS's IPv6 metadata address and Alibaba Cloud's.
    "BLOCKED_NETWORKS": ["169.254.0.0/16", "fe80::/10", "fd00:ec2::254/128", "100.100.100.200/32"],
    # Host names or addresses exempt from BLOCKED_NETWORKS.
    "ALLOWED_HOSTS": [],
    # Test emails, connection checks and "Detect settings" one user may run per minute in
    # the admin (counted in the default cache, which every worker must share).
    "TEST_RATE_LIMIT": 10,
    # PEM certificate of a private CA trusted, besides the system's, for OAuth2 token
    # endpoints (an in-house identity provider).
    "OAUTH_CA_CERTIFICATE": "",
    # The site's public address (such as "https://mail.example.com") for the OAuth2 redirect
    # URI, when a proxy hides it from Django; blank: built from the request, as Django does
    # behind a proxy (SECURE_PROXY_SSL_HEADER, USE_X_FORWARDED_HOST). Alerts link to the
    # admin with it (blank: they give the admin page's path).
    "OAUTH_REDIRECT_BASE": "",
    # Allow http:// OAuth2 endpoints (authorization, token, device code). Off: tokens and
    # secrets only ever travel over https://. For a test authorization server on 127.0.0.1.
    "OAUTH_ALLOW_HTTP": False,
    # Of those, how many one user may have running at the same time.
    "TESTS_AT_ONCE": 1,
    # Seconds one whole conversation may take, whatever the profile's timeout: a test
    # (resolve, connect, TLS and every step), opening a connection, or sending one
    # message. Each gets three times the profile's timeout, at most this, so a server
    # that answers just inside the timeout cannot hold a request past the web server's
    # own limit (smtpconfig.limits.longest_request_seconds() says what that limit must
    # exceed). None: three times the timeout, no cap.
    "MAX_CONVERSATION_SECONDS": 25,
    # Keep each process's logged-in connections between sends: the next send_mail() to the
    # same server and login goes out over one (checked with RSET first) instead of opening
    # a new one (TCP, TLS, EHLO twice, AUTH: six round trips). False: a connection per
    # send_mail() call, closed with QUIT, as Django's backend does.
    "POOL": True,
    # Seconds a pooled connection may wait unused before it is closed with QUIT: below the
    # idle limit of common servers (Postfix 300 s, providers from 60 s), so that a server
    # rarely hangs up first (if it does, the next send opens a new connection).
    "POOL_IDLE_TIMEOUT": 30,
    # Messages one pooled connection carries before it is closed with QUIT and a new one
    # opened (providers cap messages per connection). 0 or None: no limit.
    "POOL_MAX_MESSAGES": 100,
    # QueuedEmailBackend: write each message to the outbox and send it from a worker of
    # Django's task framework (TASKS). False: it sends at once, as EmailBackend does.
    "QUEUE": True,
    # The TASKS alias whose backend runs the outbox's deliveries.
    "TASK_BACKEND": "default",
    # A message that failed for a temporary reason is tried again, with a growing delay
    # (about OUTBOX_RETRY_DELAY seconds, then twice that, … up to an hour, with jitter),
    # until it has been tried OUTBOX_MAX_ATTEMPTS times or is OUTBOX_MAX_AGE seconds old;
    # then it has failed for good.
    "OUTBOX_MAX_ATTEMPTS": 20,
    "OUTBOX_MAX_AGE": 24 * 3600,
    "OUTBOX_RETRY_DELAY": 20,
    # Seconds a failed, unknown or cancelled message keeps its content so that it can be
    # resent (then only its metadata stays); sent messages keep none.
    "OUTBOX_RETENTION": 7 * 24 * 3600,
    # Messages one worker claims at a time (its connection stays open for the next batch).
    "OUTBOX_BATCH_SIZE": 50,
    # Seconds a worker's claim lasts without being renewed: a crashed worker's messages
    # are taken up again after this (or marked unknown if one may have gone out).
    "OUTBOX_LEASE_SECONDS": 300,
    # While a worker sends fast (a nearby server), one commit marks as started the messages
    # it will send in about this many seconds, rather than one commit per message; a worker
    # killed meanwhile leaves those not yet sent "unknown" too (never sent twice). 0: one
    # commit per message, so only the message in flight can be left unknown.
    "OUTBOX_MARK_AHEAD_SECONDS": 0.02,
    # Seconds a message may wait before the admin says that no worker seems to run and
    # an alert says that the queue is backing up.
    "OUTBOX_STALE_SECONDS": 300,
    # Alerts (a message failed for good or may not have gone out, a profile failed over,
    # the queue is backing up) go by email to ADMINS, sent at once (never through the
    # outbox) through a profile other than the failing one where there is one, and, when
    # set, as Slack-compatible JSON ({"text": ...}) to this URL (https:// only); at most
    # one per profile and kind every ALERT_INTERVAL seconds (0: every one), counted in the
    # default cache, which every worker must share. The URL itself is never logged.
    "ALERT_WEBHOOK_URL": "",
    "ALERT_INTERVAL": 3600,
    # Allow an http:// ALERT_WEBHOOK_URL (a chat server on the same machine or a test).
    # Off: alerts are only posted over https://.
    "ALERT_WEBHOOK_ALLOW_HTTP": False,
}


@sensitive_variables("user_settings")
def get_setting(name: str) -> Any:
    """Return the value of ``SMTPCONFIG[name]``, or its default.

    Raises :class:`SMTPConfigImproperlyConfigured` for a name that is not an
    option, so that a typo fails loudly instead of reading a default.
    """
    if name not in DEFAULTS:
        raise SMTPConfigImproperlyConfigured(f"Unknown SMTPCONFIG option {name!r}.")
    user_settings = getattr(settings, "SMTPCONFIG", None) or {}
    if not isinstance(user_settings, dict):
        raise SMTPConfigImproperlyConfigured("The SMTPCONFIG setting must be a dict.")
    if name in user_settings:
        return user_settings[name]
    default = DEFAULTS[name]
    return default() if callable(default) else default


def unknown_options() -> list[str]:
    """Names in ``settings.SMTPCONFIG`` that are not options (for the system checks)."""
    user_settings = getattr(settings, "SMTPCONFIG", None) or {}
    if not isinstance(user_settings, dict):
        return []
    return sorted(set(user_settings) - set(DEFAULTS))
