"""Logged-in SMTP connections kept per process and reused by the next ``send_mail()``.

Opening a connection (TCP, TLS, EHLO twice, AUTH) costs six round trips, most
of a one-message send to a server 20 ms away. So :class:`EmailBackend` takes
its connection from :data:`POOL` and gives it back when it closes; the next
send to the same server with the same login, in any thread of the process,
goes out over it.

- A connection is found by a key made of everything that decides who the
  server sees (server, port, security, TLS trust, client certificate, login,
  the password or the OAuth2 identity, the timeout): a keyed digest, so no
  secret is kept in clear as a key.
- Before reuse it is checked with RSET (NOOP after more than
  :data:`LONG_IDLE` seconds); one that fails the check (a 421, a silent close,
  any error) is dropped and another opened, before ``MAIL FROM``, so a stale
  connection never costs a message or sends one twice.
- It is closed with QUIT after ``POOL_IDLE_TIMEOUT`` seconds idle and after
  ``POOL_MAX_MESSAGES`` messages (counted over every backend that used it),
  when the profiles change (the snapshot's generation), when the OAuth2
  access token it logged in with is no longer used, and at exit. Idle
  limits are enforced lazily, for every idle connection, at each checkout and
  checkin: no thread of its own.
- One thread at a time has a connection (checkout and checkin under a lock);
  at most :data:`MAX_IDLE_PER_KEY` wait per key. A process forked from this
  one starts with an empty pool and never writes to the parent's sockets.
"""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import hmac
import os
import secrets
import smtplib
import threading
import time
from dataclasses import dataclass, field

from django.views.decorators.debug import sensitive_variables

from ..conf import get_setting
from ..transport.settings import ConnectionSettings
from ..transport.tokens import TokenRequest, cached_token, usable_until
from .profiles import snapshot_generation

#: Seconds idle after which the check before reuse is NOOP rather than RSET.
LONG_IDLE = 5.0
#: Idle connections kept per key; a connection given back beyond that is closed.
MAX_IDLE_PER_KEY = 8

# Keys are digests made with this process's own random key: a key in memory (or in a
# traceback) tells nothing about the password it stands for.
_KEY_SECRET = secrets.token_bytes(32)


def enabled() -> bool:
    """Whether connections are kept between sends (``SMTPCONFIG["POOL"]``)."""
    return bool(get_setting("POOL"))


@sensitive_variables("settings", "parts", "request")
def connection_key(settings: ConnectionSettings) -> str:
    """Who the server sees over a connection opened with ``settings``, as a keyed digest."""
    parts = [
        settings.connect_host,
        settings.port,
        settings.security,
        settings.verify_certificate,
        settings.ca_certificate,
        settings.client_certfile,
        settings.client_keyfile,
        settings.allow_plaintext_auth,
        settings.timeout,
        settings.login_method,
        settings.username,
        settings.password,
        settings.oauth_token,
    ]
    request = settings.oauth_request
    if request is not None:
        # The account and the client it signs in through; not the refresh token, which
        # the provider rotates (a rotation is saved, which changes the generation anyway).
        parts += [
            request.token_url,
            request.client_id,
            request.grant_type,
            request.scope,
            request.client_secret,
        ]
    text = "\x00".join("" if part is None else str(part) for part in parts)
    return hmac.new(_KEY_SECRET, text.encode("utf-8", "surrogatepass"), hashlib.sha256).hexdigest()


@dataclass(eq=False)
class Lease:
    """A pooled connection and what the pool knows of it; it travels with the client."""

    client: smtplib.SMTP
    key: str
    #: The profiles' generation it was opened under.
    generation: object
    pid: int = field(default_factory=os.getpid)
    idle_since: float = field(default_factory=time.monotonic)
    #: Messages sent on it (MAIL transactions begun), by every backend that held it.
    messages: int = 0
    #: A send failed in a way that may leave the conversation out of step: never reused.
    spoiled: bool = False
    #: Logged in with an OAuth2 access token: not reused once it would not be (time.time()).
    valid_until: float | None = None

    def usable(self) -> bool:
        return not self.spoiled and self.client.sock is not None

    def expired(self, now: float, idle_timeout) -> bool:
        """Idle too long, or logged in with a token that is no longer used."""
        if idle_timeout is not None and now - self.idle_since > idle_timeout:
            return True
        return self.valid_until is not None and time.time() >= self.valid_until

    def worn_out(self) -> bool:
        """Whether it has carried ``POOL_MAX_MESSAGES`` messages."""
        limit = get_setting("POOL_MAX_MESSAGES")
        return bool(limit) and self.messages >= int(limit)


class ConnectionPool:
    """Idle connections by key; see the module's docstring."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._idle: dict[str, list[Lease]] = {}

    def lease(
        self, client: smtplib.SMTP, key: str, token_request: TokenRequest | None = None
    ) -> Lease:
        """A new connection, opened by the caller, as a lease of this pool; with
        ``token_request``, logged in with that request's access token (kept while the
        token is)."""
        valid_until = None
        if token_request is not None:
            token = cached_token(token_request)
            valid_until = usable_until(token) if token is not None else time.time()
        return Lease(client, key, snapshot_generation(), valid_until=valid_until)

    def checkout(self, key: str) -> Lease | None:
        """An idle connection for ``key`` that answered RSET (or NOOP); None: open one.

        The caller has it alone until it gives it back with :meth:`release`.
        """
        while True:
            with self._lock:
                retired = self._reap()
                waiting = self._idle.get(key)
                lease = waiting.pop() if waiting else None  # the most recently used
                if waiting == []:
                    del self._idle[key]
            _quit_all(retired)
            if lease is None:
                return None
            if _answers(lease):
                return lease
            _close(lease.client)  # stale: the server hung up or said 421; try the next

    def release(self, lease: Lease) -> None:
        """Take ``lease`` back: kept for the next checkout, or closed (with QUIT when it
        can still be said) if it is unusable, worn out, out of date or the pool is off."""
        if lease.pid != os.getpid():
            return  # the parent's socket: a child never writes to it (see _forget_all)
        if not lease.usable():
            _close(lease.client)
            return
        now = time.monotonic()
        keep = (
            enabled()
            and not lease.worn_out()
            and not lease.expired(now, None)
            and lease.generation == snapshot_generation()
        )
        with self._lock:
            retired = self._reap(now)
            waiting = self._idle.setdefault(lease.key, [])
            if keep and len(waiting) < MAX_IDLE_PER_KEY:
                lease.idle_since = now
                waiting.append(lease)
            else:
                retired.append(lease)
                if not waiting:
                    del self._idle[lease.key]
        _quit_all(retired)

    def clear(self, *, polite: bool = True) -> None:
        """Close every idle connection (with QUIT, unless ``polite`` is False)."""
        with self._lock:
            retired = [lease for waiting in self._idle.values() for lease in waiting]
            self._idle.clear()
        if polite:
            _quit_all(retired)
        else:
            for lease in retired:
                _close(lease.client)

    def idle_count(self) -> int:
        """How many connections wait in the pool."""
        with self._lock:
            return sum(len(waiting) for waiting in self._idle.values())

    def _reap(self, now: float | None = None) -> list[Lease]:
        """Take out (under the lock) the idle connections past their limits, to QUIT."""
        if not self._idle:
            return []
        now = time.monotonic() if now is None else now
        idle_timeout = get_setting("POOL_IDLE_TIMEOUT")
        generation = snapshot_generation()
        pooled = enabled()
        retired: list[Lease] = []
        for key in list(self._idle):
            kept = []
            for lease in self._idle[key]:
                if not pooled or lease.expired(now, idle_timeout) or lease.generation != generation:
                    retired.append(lease)
                else:
                    kept.append(lease)
            if kept:
                self._idle[key] = kept
            else:
                del self._idle[key]
        return retired

    def _forget_all(self) -> None:
        """In a forked child: the parent's connections are the parent's. Their sockets are
        left alone (no QUIT, no TLS close-notify); the child opens its own."""
        self._lock = threading.Lock()
        self._idle = {}


def _answers(lease: Lease) -> bool:
    """Whether the server still takes commands on ``lease`` (RSET, or NOOP after long idle)."""
    client = lease.client
    if client.sock is None:
        return False
    check = client.noop if time.monotonic() - lease.idle_since > LONG_IDLE else client.rset
    try:
        code, _reply = check()
    except (OSError, smtplib.SMTPException):
        return False
    return code == 250


def _close(client: smtplib.SMTP) -> None:
    with contextlib.suppress(OSError, smtplib.SMTPException):
        client.close()


def _quit_all(leases: list[Lease]) -> None:
    """QUIT each (outside the lock: a round trip each); a failed QUIT changes nothing."""
    for lease in leases:
        if lease.client.sock is not None:
            with contextlib.suppress(OSError, smtplib.SMTPException):
                lease.client.quit()
        _close(lease.client)


#: The process's pool.
POOL = ConnectionPool()

atexit.register(POOL.clear)
os.register_at_fork(after_in_child=POOL._forget_all)
