"""The email backends the host app sends its mail through.

``EMAIL_BACKEND = "smtpconfig.backends.QueuedEmailBackend"`` (the demo
project's default) writes each message to the outbox in the caller's
transaction and returns at once; a worker of Django's task framework sends it
through :class:`EmailBackend` (see :mod:`smtpconfig.outbox`).

``EMAIL_BACKEND = "smtpconfig.backends.EmailBackend"`` makes Django's own SMTP
backend take its settings from the enabled :class:`SMTPProfile` rows instead
of ``settings.EMAIL_*``, fail over to the next profile when one cannot take
the message, and record every message in the delivery log. It reaches the
server by the same road as the admin's test
(:func:`smtpconfig.transport.session.open_session`): the same resolver, the
same network policy, the same TLS rules and the same time budget.

Precedence, as in Django: an explicit constructor argument beats the
profile, which beats Django's ``EMAIL_*`` settings.

A message is only sent elsewhere before the server has accepted it: a
failure to connect, to start TLS or to log in, or a temporary (4xx) reply,
moves on to the next profile; once the message itself has started to go out,
a broken connection is reported, never retried, so nothing is sent twice.

Connections come from the process's pool (:mod:`smtpconfig.delivery.pool`)
and go back to it when the backend closes, so that the next ``send_mail()``
to the same server and login skips the opening; ``SMTPCONFIG["POOL"] =
False`` opens and QUITs one per call, as Django does.
"""

from __future__ import annotations

import contextlib
import logging
import smtplib
import time

from django.conf import settings
from django.core.mail.backends import smtp
from django.core.mail.backends.base import BaseEmailBackend
from django.utils.decorators import method_decorator
from django.views.decorators.debug import sensitive_variables

from .conf import get_setting
from .delivery import log as delivery_log
from .delivery import pool
from .delivery.failover import (
    Attempt,
    DeliveryFailed,
    announce_failover,
    attempt_for,
    delivery_step,
    may_fail_over,
    raise_or_return,
    report_failure,
)
from .delivery.message import deliver, sender_for
from .delivery.profiles import ResolvedProfile, enabled_profiles, named_profile
from .delivery.targets import ProfileTargetsMixin, choose_chain
from .exceptions import SecretUnreadable, SMTPProtocolError
from .log_events import log_event
from .models import DeliveryOutcome
from .outbox.store import OutboxUnavailable, enqueue
from .transport.session import open_session
from .transport.steps import Step, StepFailed

__all__ = ["DeliveryFailed", "EmailBackend", "OutboxUnavailable", "QueuedEmailBackend"]

logger = logging.getLogger("smtpconfig")


# How the ``send`` log line says each outcome.
_OUTCOME_WORDS = {
    DeliveryOutcome.SENT: "sent",
    DeliveryOutcome.FAILED_OVER: "sent after failover",
    DeliveryOutcome.FAILED: "failed",
    DeliveryOutcome.DEFERRED: "deferred (tried again later)",
    DeliveryOutcome.UNKNOWN: "perhaps sent (the connection broke after the body went out)",
}

# The fallback warning is logged at most once a minute per process.
_FALLBACK_WARNING_INTERVAL = 60.0
_last_fallback_warning = 0.0


def _warn_fallback() -> None:
    global _last_fallback_warning
    now = time.monotonic()
    if _last_fallback_warning and now - _last_fallback_warning < _FALLBACK_WARNING_INTERVAL:
        return
    _last_fallback_warning = now
    logger.warning(
        "No enabled SMTP profile: mail goes out through Django's EMAIL_* settings "
        "(EMAIL_HOST=%r). Add and enable a profile in the admin under SMTP profiles, "
        "then check it with 'python manage.py smtp_test'.",
        settings.EMAIL_HOST,
    )


class EmailBackend(ProfileTargetsMixin, smtp.EmailBackend):
    """Django's SMTP backend, with settings, failover and a log from SMTP profiles.

    - ``get_connection()``: the enabled profiles in failover order (the
      default first, then by priority); a message whose sender's domain a
      profile lists goes through that profile first.
    - ``get_connection(profile="name")``: that profile only, unless
      ``failover=True`` is passed too.
    - With no enabled profile: Django's ``EMAIL_*`` settings, with a warning.

    A message whose sender was left to ``DEFAULT_FROM_EMAIL`` goes out as the
    profile's ``Display Name <sender>``; an explicit sender is kept.
    """

    @method_decorator(sensitive_variables("password", "arguments"))
    def __init__(
        self,
        host=None,
        port=None,
        username=None,
        password=None,
        use_tls=None,
        fail_silently=False,
        use_ssl=None,
        timeout=None,
        ssl_keyfile=None,
        ssl_certfile=None,
        profile: str | None = None,
        failover: bool | None = None,
        **kwargs,
    ):
        arguments = {
            "host": host,
            "port": port,
            "username": username,
            "password": password,
            "use_tls": use_tls,
            "use_ssl": use_ssl,
            "timeout": timeout,
        }
        self.explicit = {name: value for name, value in arguments.items() if value is not None}
        chain = choose_chain(enabled_profiles(), profile, failover, self.explicit)
        #: The profiles this backend may use, in failover order.
        self.chain: list[ResolvedProfile] = chain
        #: Sender-domain routing applies unless a profile was named.
        self.routed = profile is None
        #: The profile the settings below belong to (None: Django's EMAIL_* settings).
        self.profile: ResolvedProfile | None = chain[0] if chain else None
        # Profiles that failed since the connection was last opened, by primary key.
        self._down: dict[int | None, Attempt] = {}
        # What the open connection goes to (a profile, or the EMAIL_* settings).
        self._connected_to: ResolvedProfile | None = None
        # The open connection as the pool's (None: not pooled, or none open).
        self._lease: pool.Lease | None = None
        if self.profile is None:
            _warn_fallback()
        super().__init__(
            host=host,
            port=port,
            username=username,
            password=password,
            use_tls=use_tls,
            fail_silently=fail_silently,
            use_ssl=use_ssl,
            timeout=timeout,
            ssl_keyfile=ssl_keyfile,
            ssl_certfile=ssl_certfile,
            **kwargs,
        )
        if self.profile is not None:
            self._configure(self.profile)
        else:
            # Django reads "host or EMAIL_HOST": an explicit empty value must still win.
            for name in ("host", "port"):
                if name in self.explicit:
                    setattr(self, name, self.explicit[name])
        self._fallback = None if chain else self._django_settings_target()

    # Settings.

    # Opening a connection, with failover.

    def _open_target(self, target: ResolvedProfile) -> None:
        """Connect, start TLS and log in to ``target``; raise :class:`StepFailed`."""
        if target.pk is not None and target is not self.profile:
            self._configure(target)
        if target.password_error and "password" not in self.explicit:
            raise StepFailed(Step.AUTH, SecretUnreadable(target.password_error))
        lease = None
        if pool.enabled():
            key = pool.connection_key(self.connection_settings())
            lease = pool.POOL.checkout(key)
            if lease is None:
                lease = pool.POOL.lease(
                    self._new_client(), key, self.connection_settings().oauth_request
                )
            client = lease.client
        else:
            client = self._new_client()
        self.connection, self._connected_to, self._lease = client, target, lease

    def _new_client(self):
        client = open_session(self.connection_settings())
        client.end_budget()  # opened: each message gets a budget of its own
        return client

    def _discard_connection(self) -> None:
        """Close the connection without a word (it is broken, or in an unknown state)."""
        if self.connection is not None:
            with contextlib.suppress(OSError):
                self.connection.close()
        self.connection, self._connected_to, self._lease = None, None, None

    def _give_back(self) -> bool:
        """Give a pooled connection back to the pool; False when it is not a pooled one."""
        lease = self._lease
        if lease is None or self.connection is not lease.client:
            return False
        self.connection, self._connected_to, self._lease = None, None, None
        pool.POOL.release(lease)
        return True

    def _set_aside(self) -> None:
        """Before another connection: this one back to the pool, else closed."""
        if not self._give_back():
            self._discard_connection()

    def _worn_out(self) -> bool:
        return self._lease is not None and self._lease.worn_out()

    def _attempt(self, target, failure: StepFailed, recipients: str = "") -> Attempt:
        attempt = attempt_for(target, failure, recipients)
        self._down[target.pk] = attempt
        return attempt

    def open(self):
        """Open a connection through the first profile that works.

        Returns True for a new connection, False if one was open already, and
        None when every profile failed and ``fail_silently`` is set. Every
        call tries every profile again, as Django's ``open()`` tries again.
        """
        if self.connection:
            return False
        self._down = {}
        targets = self._targets()
        last_error: BaseException | None = None
        for index, target in enumerate(targets):
            try:
                self._open_target(target)
                return True
            except StepFailed as failure:
                attempt = self._attempt(target, failure)
                following = targets[index + 1] if index + 1 < len(targets) else None
                announce_failover(type(self), attempt, following)
                last_error = failure.error
        attempts = list(self._down.values())
        report_failure(type(self), None, attempts)
        return self._raise_or_return(attempts, last_error, None)

    def close(self):
        """QUIT, or with the pool, give the connection back for the next send."""
        if not self._give_back():
            super().close()
            self._connected_to, self._lease = None, None
        self._down = {}

    # Sending, with failover before the server has the message.

    def send_messages(self, email_messages):
        """Send each message; return how many were sent.

        The connection is opened for the first message (through the first
        profile that works) and closed at the end unless it was open already.
        The batch's delivery log rows are written when it ends.
        """
        if not email_messages:
            return 0
        with self._lock:
            opened_here = self.connection is None
            if opened_here:
                self._down = {}  # whatever failed at an earlier open() is tried again
            self._log_rows: list[dict] = []
            sent = 0
            try:
                for message in email_messages:
                    if self._send(message):
                        sent += 1
            finally:
                if opened_here:
                    self.close()
                rows, self._log_rows = self._log_rows, []
                delivery_log.write(rows)
        return sent

    def _log(self, message, **values) -> None:
        """A delivery log row for ``message``; never raises (the message's fate is decided)."""
        if not delivery_log.enabled():
            return
        try:
            self._log_rows.append(delivery_log.entry(message=message, **values))
        except Exception:  # noqa: BLE001 - the log must not turn a sent message into an error
            logger.exception("Could not describe a message for the SMTP delivery log.")

    def _send(self, email_message):
        if not email_message.recipients():
            return False
        started = time.perf_counter()
        order = self._order_for(email_message)
        recipients = ", ".join(str(address) for address in email_message.recipients())
        attempts: list[Attempt] = []
        last_error: BaseException | None = None
        tried: ResolvedProfile | None = None
        for index, target in enumerate(order):
            following = order[index + 1] if index + 1 < len(order) else None
            tried = target
            if target.pk in self._down:
                attempts.append(self._down[target.pk])
                continue
            if self.connection is None or self._connected_to is not target or self._worn_out():
                self._set_aside()
                try:
                    self._open_target(target)
                except StepFailed as failure:
                    attempts.append(self._attempt(target, failure))
                    announce_failover(type(self), attempts[-1], following, email_message)
                    last_error = failure.error
                    continue
            try:
                reply, sender, message_id = self._deliver(email_message, target)
            except OSError as exc:
                payload_sent = bool(getattr(self.connection, "payload_sent", False))
                step = Step.DATA if payload_sent else delivery_step(exc, self.connection)
                attempt = attempt_for(target, StepFailed(step, exc), recipients)
                attempts.append(attempt)
                last_error = exc
                if may_fail_over(exc, payload_sent):
                    self._discard_connection()
                    announce_failover(type(self), attempt, following, email_message)
                    continue
                if not self._still_usable():
                    self._discard_connection()
                return self._fail(email_message, attempts, started, exc, target)
            outcome = DeliveryOutcome.FAILED_OVER if attempts else DeliveryOutcome.SENT
            self._log_event(email_message, outcome, target, attempts, started, message_id)
            self._log(
                email_message,
                outcome=outcome,
                profile_pk=target.pk,
                profile_name=target.name if target.pk is not None else "",
                tried=[attempt.as_dict() for attempt in attempts],
                reply=reply,
                duration=time.perf_counter() - started,
                sender=sender,
                message_id=message_id,
            )
            return True
        return self._fail(email_message, attempts, started, last_error, tried)

    def _still_usable(self) -> bool:
        """Whether the connection can carry the next message (a refusal leaves it usable)."""
        if self._lease is not None and self._lease.spoiled:
            return False
        return self.connection is not None and self.connection.sock is not None

    def _deliver(self, email_message, target: ResolvedProfile) -> tuple[str, str, str]:
        """Send one message on the open connection; return (final reply, sender, Message-ID)."""
        lease = self._lease
        if lease is None:
            return deliver(self.connection, email_message, target)
        lease.messages += 1
        try:
            return deliver(self.connection, email_message, target)
        except (smtplib.SMTPRecipientsRefused, smtplib.SMTPResponseException) as exc:
            # A refusal: smtplib has sent RSET, the connection carries the next message.
            # A reply the client could not read leaves it out of step: never reused.
            lease.spoiled = lease.spoiled or isinstance(exc, SMTPProtocolError)
            raise
        except BaseException:
            lease.spoiled = True
            raise

    # When nothing worked.

    def _fail(self, email_message, attempts, started, last_error, last_tried=None):
        self._log_failure(email_message, attempts, started, last_tried, DeliveryOutcome.FAILED)
        report_failure(type(self), email_message, attempts)
        return self._raise_or_return(attempts, last_error, False)

    #: The ``via`` of this sender's log events.
    log_via = "backend"

    def _log_event(self, email_message, outcome, target, attempts, started, message_id) -> None:
        """The ``send`` log line of a message's outcome (see :mod:`smtpconfig.log_events`):
        which profile, which step failed, how long; the recipients only counted."""
        sent = outcome in (DeliveryOutcome.SENT, DeliveryOutcome.FAILED_OVER)
        name = target.name if target is not None else ""
        server = target.server if target is not None else ""
        step = "" if sent or not attempts else str(attempts[-1].step)
        words = _OUTCOME_WORDS.get(outcome, str(outcome))
        if sent:
            text, args = "Message %s through SMTP profile “%s” (%s).", (words, name, server)
        else:
            text = "Message %s: last tried SMTP profile “%s” (%s) at step “%s”."
            args = (words, name, server, step)
        log_event(
            logging.INFO if sent else logging.WARNING,
            "send",
            text,
            *args,
            profile=name,
            profile_pk=target.pk if target is not None else None,
            server=server,
            step=step,
            outcome=str(outcome),
            duration=time.perf_counter() - started,
            message_id=message_id or None,
            attempts=len(attempts),
            recipients=email_message.recipients(),
            via=self.log_via,
        )

    def _log_failure(self, email_message, attempts, started, last_tried, outcome) -> None:
        self._log_event(
            email_message,
            outcome,
            last_tried,
            attempts,
            started,
            _message_id_header(email_message),
        )
        # The row names the last profile tried and the sender it was given, as a sent
        # message's row names the profile used: not a blank profile and DEFAULT_FROM_EMAIL.
        self._log(
            email_message,
            outcome=outcome,
            profile_pk=last_tried.pk if last_tried is not None else None,
            profile_name=attempts[-1].profile if attempts else "",
            tried=[attempt.as_dict() for attempt in attempts],
            reply=attempts[-1].error if attempts else "",
            duration=time.perf_counter() - started,
            sender=(
                sender_for(email_message, last_tried)
                if last_tried is not None
                else str(email_message.from_email)
            ),
            # A queued message's Message-ID is fixed when it is queued: the row of a failed
            # or deferred attempt names it too, so the outbox can show its attempts.
            message_id=_message_id_header(email_message),
        )

    def _raise_or_return(self, attempts, last_error, quiet_result):
        """Raise what went wrong, unless ``fail_silently``; configuration errors always."""
        return raise_or_return(attempts, last_error, quiet_result, self.fail_silently)


class QueuedEmailBackend(BaseEmailBackend):
    """Queue each message in the outbox; a worker sends it through :class:`EmailBackend`.

    ``send_messages()`` writes the messages in the caller's database
    transaction and wakes a worker when it commits (a rolled-back
    transaction sends nothing), then returns how many it queued, without
    waiting for any server. ``profile=`` and ``failover=`` are kept with each
    message and used when it is sent; an unknown profile is refused at once.

    Sent at once instead, through :class:`EmailBackend`: with
    ``SMTPCONFIG["QUEUE"] = False``, and when explicit server arguments
    (host, port, username, password, use_tls, use_ssl, timeout, ssl_*) name a
    server the outbox does not keep.

    When the database cannot store a message, :class:`OutboxUnavailable` is
    raised (unless ``fail_silently``: then it is logged and not counted).
    """

    @method_decorator(sensitive_variables("kwargs"))
    def __init__(self, fail_silently=False, profile=None, failover=None, **kwargs):
        super().__init__(fail_silently=fail_silently)
        self.requested_profile = profile or ""
        self.failover = failover
        self._direct_arguments = {
            name: value for name, value in kwargs.items() if value is not None
        }
        if profile:
            named_profile(profile, enabled_profiles())  # ProfileNotFound now, not at send time

    def _direct(self) -> EmailBackend:
        return EmailBackend(
            fail_silently=self.fail_silently,
            profile=self.requested_profile or None,
            failover=self.failover,
            **self._direct_arguments,
        )

    def send_messages(self, email_messages):
        if not email_messages:
            return 0
        if self._direct_arguments or not get_setting("QUEUE"):
            return self._direct().send_messages(email_messages)
        try:
            return len(
                enqueue(
                    email_messages,
                    requested_profile=self.requested_profile,
                    failover=self.failover,
                )
            )
        except OutboxUnavailable:
            if self.fail_silently:
                return 0
            raise


def _message_id_header(email_message) -> str:
    """The Message-ID ``email_message`` was given in its headers ("" when Django makes one)."""
    for name, value in (getattr(email_message, "extra_headers", None) or {}).items():
        if name.lower() == "message-id":
            return str(value)
    return ""
