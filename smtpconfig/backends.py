"""The email backend the host app sends its mail through.

``EMAIL_BACKEND = "smtpconfig.backends.EmailBackend"`` makes Django's own SMTP
backend take its settings from the enabled :class:`SMTPProfile` rows instead
of ``settings.EMAIL_*``, fail over to the next profile when one cannot take
the message, and record every message in the delivery log.

Precedence, as in Django: an explicit constructor argument beats the
profile, which beats Django's ``EMAIL_*`` settings.

A message is only sent elsewhere before the server has accepted it: a
failure to connect, to start TLS or to log in, or a temporary (4xx) reply,
moves on to the next profile; once the message itself has started to go out,
a broken connection is reported, never retried, so nothing is sent twice.
"""

from __future__ import annotations

import contextlib
import logging
import smtplib
import socket
import ssl
import time
from dataclasses import dataclass
from functools import cached_property

from django.conf import settings
from django.core.mail.backends import smtp
from django.core.mail.message import sanitize_address
from django.core.mail.utils import DNS_NAME
from django.utils.decorators import method_decorator
from django.utils.translation import gettext as _
from django.views.decorators.debug import sensitive_variables

from . import delivery_log, signals
from .diagnosis import diagnose_exception
from .exceptions import ConversationTimeout, SecretUnreadable, SMTPProtocolError
from .models import DeliveryOutcome, Security
from .probe import PlaintextAuthRefused, describe_exception
from .routing import (
    ResolvedProfile,
    enabled_profiles,
    named_profile,
    order_for_sender,
    sender_domain,
)
from .transport import clients as smtp_clients
from .transport.tls import client_context, new_client_context

logger = logging.getLogger("smtpconfig")

# Arguments that name a server: given explicitly, they mean "this server", so no failover.
_SERVER_ARGUMENTS = ("host", "port", "username", "password", "use_tls", "use_ssl")

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


@dataclass(frozen=True)
class Attempt:
    """One profile that failed, at which step, and why (in the diagnosis's words)."""

    profile: str
    server: str
    step: str
    error: str
    configuration: bool = False

    def as_dict(self) -> dict:
        return {
            "profile": self.profile,
            "server": self.server,
            "step": self.step,
            "error": self.error,
        }

    def __str__(self) -> str:
        return f"“{self.profile}” ({self.server}, {self.step}): {self.error}"


class DeliveryFailed(smtplib.SMTPException):
    """Every profile tried failed; the message names each one and why."""

    def __init__(self, attempts: list[Attempt]):
        self.attempts = attempts
        super().__init__(
            _("No SMTP profile could send the message. Tried: %(attempts)s")
            % {"attempts": "; ".join(str(attempt) for attempt in attempts)}
        )


def _opening_step(exc: BaseException, step: str) -> str:
    """The probe's name for the step an exception raised while opening belongs to.

    ``step`` is where the backend was ("connect", "tls" for STARTTLS, "auth");
    the SSL client tags a failed implicit-TLS handshake itself.
    """
    if hasattr(exc, "smtpconfig_step"):
        return exc.smtpconfig_step
    if isinstance(exc, socket.gaierror):
        return "resolve"
    if isinstance(exc, ssl.SSLError):
        return "tls"
    if step == "connect" and isinstance(
        exc,
        smtplib.SMTPServerDisconnected
        | smtplib.SMTPConnectError
        | SMTPProtocolError
        | ConversationTimeout,
    ):
        # Connected, but the greeting did not come, was a refusal or was not SMTP's
        # (a TCP connect waits one timeout at most, so it never spends the budget).
        return "ehlo"
    return step


class EmailBackend(smtp.EmailBackend):
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
        profiles = enabled_profiles()
        if profile is not None:
            pinned = named_profile(profile, profiles)
            others = [candidate for candidate in profiles if candidate is not pinned]
            chain = [pinned, *others] if failover else [pinned]
        else:
            chain = list(profiles) if failover is not False else list(profiles[:1])
        if any(name in self.explicit for name in _SERVER_ARGUMENTS):
            chain = chain[:1]
        #: The profiles this backend may use, in failover order.
        self.chain: list[ResolvedProfile] = chain
        #: Sender-domain routing applies unless a profile was named.
        self.routed = profile is None
        #: The profile the settings below belong to (None: Django's EMAIL_* settings).
        self.profile: ResolvedProfile | None = chain[0] if chain else None
        # Profiles that failed while this backend was open, by primary key.
        self._down: dict[int, Attempt] = {}
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

    # Settings.

    @method_decorator(sensitive_variables("values", "explicit", "from_profile"))
    def _configure(self, profile: ResolvedProfile) -> None:
        """Take the connection settings from ``profile``; explicit arguments still win."""
        values = {
            "host": profile.host,
            "port": profile.port,
            "username": profile.username,
            "password": profile.password,
            "use_tls": profile.security == Security.STARTTLS,
            "use_ssl": profile.security == Security.SSL,
            "timeout": profile.timeout,
        }
        explicit = dict(self.explicit)
        if "use_tls" in explicit or "use_ssl" in explicit:
            values["use_tls"] = bool(explicit.pop("use_tls", False))
            values["use_ssl"] = bool(explicit.pop("use_ssl", False))
        from_profile = dict(values)
        values.update(explicit)
        if "password" not in explicit and any(
            values[name] != from_profile[name] for name in ("host", "port", "use_tls", "use_ssl")
        ):
            # The profile's password is sealed to the profile's server: explicit arguments
            # that point elsewhere get no login unless they bring their own password.
            values["password"] = ""
        for name, value in values.items():
            setattr(self, name, value)
        self.profile = profile
        self.__dict__.pop("ssl_context", None)  # the next profile may trust another CA

    @property
    def connection_class(self):
        return smtp_clients.SMTP_SSL if self.use_ssl else smtp_clients.SMTP

    @cached_property
    def ssl_context(self):
        if self.profile is None:
            return super().ssl_context
        if self.ssl_certfile or self.ssl_keyfile:
            # A client certificate makes the context this backend's own: not shared.
            context = new_client_context(
                verify=self.profile.verify_certificate, ca_pem=self.profile.ca_certificate
            )
            context.load_cert_chain(self.ssl_certfile, self.ssl_keyfile)
            return context
        return client_context(
            verify=self.profile.verify_certificate, ca_pem=self.profile.ca_certificate
        )

    # Opening a connection, with failover.

    def _connect_current(self) -> None:
        """Connect, start TLS and log in with the current profile; raise on failure.

        The same steps as Django's ``open()``, told apart so that a failure
        names its step.
        """
        profile = self.profile
        if profile is not None and profile.password_error and "password" not in self.explicit:
            raise SecretUnreadable(profile.password_error)
        step = "connect"
        try:
            params = {"local_hostname": DNS_NAME.get_fqdn()}
            if self.timeout is not None:
                params["timeout"] = self.timeout
            if self.use_ssl:
                params["context"] = self.ssl_context
            self.connection = self.connection_class(self.host, self.port, **params)
            if not self.use_ssl and self.use_tls:
                step = "tls"
                self.connection.starttls(context=self.ssl_context)
            if self.username and self.password:
                step = "auth"
                if (
                    profile is not None
                    and not (self.use_tls or self.use_ssl)
                    and not profile.allow_plaintext_auth
                    and "password" not in self.explicit
                ):
                    raise PlaintextAuthRefused(
                        _("the password would cross the network unencrypted; it was not sent")
                    )
                self.connection.login(self.username, self.password)
            # Open: the opening's budget ends here; each message gets its own.
            self.connection.end_budget()
        except OSError as exc:
            exc.smtpconfig_step = _opening_step(exc, step)
            self._discard_connection()
            raise

    def _discard_connection(self) -> None:
        if self.connection is not None:
            with contextlib.suppress(OSError):
                self.connection.close()
        self.connection = None

    def _attempt(
        self, profile: ResolvedProfile, exc: BaseException, step: str, recipient=""
    ) -> Attempt:
        if isinstance(exc, SecretUnreadable):
            return Attempt(profile.name, profile.server, "auth", str(exc), configuration=True)
        diagnosis = diagnose_exception(exc, step, profile, recipient)
        error = diagnosis.problem if diagnosis else describe_exception(exc)
        return Attempt(profile.name, profile.server, step, error)

    def _announce_failover(
        self, attempt: Attempt, next_profile: ResolvedProfile | None, message=None
    ) -> None:
        if next_profile is None:
            return
        logger.warning("SMTP profile %s failed; trying “%s” next.", attempt, next_profile.name)
        signals.failover.send(
            sender=type(self),
            failed_profile=attempt.profile,
            next_profile=next_profile.name,
            error=attempt.error,
            message=message,
        )

    def open(self):
        """Open a connection through the first profile that works.

        Returns True for a new connection, False if one was open already, and
        None when every profile failed and ``fail_silently`` is set.
        """
        if self.connection:
            return False
        if not self.chain:
            return self._open_with_django_settings()
        candidates = [p for p in self.chain if p.pk not in self._down]
        last_error: BaseException | None = None
        for index, profile in enumerate(candidates):
            self._configure(profile)
            try:
                self._connect_current()
                return True
            except (OSError, SecretUnreadable) as exc:
                attempt = self._attempt(profile, exc, getattr(exc, "smtpconfig_step", "connect"))
                self._down[profile.pk] = attempt
                following = candidates[index + 1] if index + 1 < len(candidates) else None
                self._announce_failover(attempt, following)
                last_error = exc
        attempts = list(self._down.values())
        self._report_failure(None, attempts)
        return self._raise_or_return(attempts, last_error, None)

    def close(self):
        super().close()
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

    def _log(self, **values) -> None:
        if delivery_log.enabled():
            self._log_rows.append(delivery_log.entry(**values))

    def _order_for(self, message) -> list[ResolvedProfile]:
        if self.routed and len(self.chain) > 1:
            return order_for_sender(self.chain, sender_domain(message.from_email))
        return list(self.chain)

    def _send(self, email_message):
        if not email_message.recipients():
            return False
        if not self.chain:
            return self._send_with_django_settings(email_message)
        started = time.perf_counter()
        order = self._order_for(email_message)
        attempts: list[Attempt] = []
        last_error: BaseException | None = None
        for index, profile in enumerate(order):
            following = order[index + 1] if index + 1 < len(order) else None
            if profile.pk in self._down:
                attempts.append(self._down[profile.pk])
                continue
            if self.connection is None or self.profile is not profile:
                self._discard_connection()
                if self.profile is not profile:
                    self._configure(profile)
                try:
                    self._connect_current()
                except (OSError, SecretUnreadable) as exc:
                    attempt = self._attempt(
                        profile, exc, getattr(exc, "smtpconfig_step", "connect")
                    )
                    self._down[profile.pk] = attempt
                    attempts.append(attempt)
                    self._announce_failover(attempt, following, email_message)
                    last_error = exc
                    continue
            try:
                reply, sender, message_id = self._deliver(email_message, profile)
            except OSError as exc:
                payload_sent = bool(getattr(self.connection, "payload_sent", False))
                step = "data" if payload_sent else _delivery_step(exc, self.connection)
                attempt = self._attempt(profile, exc, step, ", ".join(email_message.recipients()))
                attempts.append(attempt)
                last_error = exc
                if _may_fail_over(exc, payload_sent):
                    self._discard_connection()
                    self._announce_failover(attempt, following, email_message)
                    continue
                if isinstance(exc, smtplib.SMTPServerDisconnected):
                    self._discard_connection()
                return self._fail(email_message, attempts, started, exc)
            self._log(
                message=email_message,
                outcome=DeliveryOutcome.FAILED_OVER if attempts else DeliveryOutcome.SENT,
                profile_pk=profile.pk,
                profile_name=profile.name,
                tried=[attempt.as_dict() for attempt in attempts],
                reply=reply,
                duration=time.perf_counter() - started,
                sender=sender,
                message_id=message_id,
            )
            return True
        return self._fail(email_message, attempts, started, last_error)

    def _deliver(self, email_message, profile: ResolvedProfile) -> tuple[str, str, str]:
        """Send one message on the open connection; return (final reply, sender, Message-ID).

        Django's ``_send``, except that the exception always reaches the
        caller (which decides about failover) and the sender and reply-to
        come from the profile where the message left them to the defaults.
        """
        original_sender, original_reply_to = email_message.from_email, email_message.reply_to
        if email_message.from_email == settings.DEFAULT_FROM_EMAIL:
            email_message.from_email = profile.sender
        if not email_message.reply_to and profile.reply_to:
            email_message.reply_to = [profile.reply_to]
        try:
            encoding = email_message.encoding or settings.DEFAULT_CHARSET
            from_email = sanitize_address(email_message.from_email, encoding)
            recipients = [sanitize_address(addr, encoding) for addr in email_message.recipients()]
            message = email_message.message()
            self.connection.sendmail(from_email, recipients, message.as_bytes(linesep="\r\n"))
            code, reply = getattr(self.connection, "last_data_reply", (250, b""))
            reply_text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else reply
            return (
                f"{code} {' '.join(reply_text.split())}".strip(),
                from_email,
                message.get("Message-ID", ""),
            )
        finally:
            email_message.from_email, email_message.reply_to = original_sender, original_reply_to

    def _send_with_django_settings(self, email_message):
        """No enabled profile: Django's own behaviour, recorded in the log."""
        started = time.perf_counter()
        quiet, self.fail_silently = self.fail_silently, False
        failure: OSError | None = None
        try:
            if self.connection is None:
                self._open_with_django_settings()
            super()._send(email_message)
        except OSError as exc:
            failure = exc
            self._discard_connection()
        finally:
            self.fail_silently = quiet
        self._log(
            message=email_message,
            outcome=DeliveryOutcome.FAILED if failure else DeliveryOutcome.SENT,
            profile_pk=None,
            profile_name="",
            tried=[],
            reply=describe_exception(failure) if failure else "",
            duration=time.perf_counter() - started,
            sender=email_message.from_email,
        )
        if failure is None:
            return True
        if quiet:
            return False
        raise failure

    def _open_with_django_settings(self):
        opened = super().open()
        if self.connection is not None:
            self.connection.end_budget()  # as in _connect_current
        return opened

    # When nothing worked.

    def _report_failure(self, email_message, attempts: list[Attempt]) -> None:
        story = "; ".join(str(attempt) for attempt in attempts)
        logger.error("SMTP delivery failed: %s", story or "no profile could be tried")
        signals.delivery_failed.send(
            sender=type(self),
            message=email_message,
            attempts=[(attempt.profile, attempt.error) for attempt in attempts],
            error=story,
        )

    def _fail(self, email_message, attempts, started, last_error):
        self._log(
            message=email_message,
            outcome=DeliveryOutcome.FAILED,
            profile_pk=None,
            profile_name=attempts[-1].profile if attempts else "",
            tried=[attempt.as_dict() for attempt in attempts],
            reply=attempts[-1].error if attempts else "",
            duration=time.perf_counter() - started,
            sender=email_message.from_email,
        )
        self._report_failure(email_message, attempts)
        return self._raise_or_return(attempts, last_error, False)

    def _raise_or_return(self, attempts, last_error, quiet_result):
        """Raise what went wrong, unless ``fail_silently``; configuration errors always."""
        configuration = [attempt for attempt in attempts if attempt.configuration]
        if attempts and len(configuration) == len(attempts):
            raise SecretUnreadable(configuration[0].error)
        if self.fail_silently:
            return quiet_result
        if last_error is not None:
            # Drop the frames below this one: smtplib.login's locals hold the password,
            # and Django's error reports (the debug page, mails to ADMINS) list locals.
            last_error = last_error.with_traceback(None)
            last_error.__context__ = None
        if len(attempts) == 1 and isinstance(last_error, OSError):
            last_error.add_note(f"smtpconfig: SMTP profile {attempts[0]}")
            raise last_error
        raise DeliveryFailed(attempts) from last_error


def _delivery_step(exc: BaseException, connection) -> str:
    """The step a failure while sending belongs to: by the refusal, else the last command."""
    if isinstance(exc, smtplib.SMTPSenderRefused):
        return "mail"
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return "rcpt"
    if isinstance(exc, smtplib.SMTPDataError):
        return "data"
    last = getattr(connection, "last_command", "")
    if last in ("ehlo", "helo"):
        return "ehlo"  # smtplib greets inside sendmail() when the opening did not log in
    return last if last in ("mail", "rcpt", "data") else "mail"


def _may_fail_over(exc: BaseException, payload_sent: bool) -> bool:
    """Whether another profile may take the message without risking a second copy."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        codes = [code for code, _reply in exc.recipients.values()]
        return bool(codes) and all(400 <= code < 500 for code in codes)
    if isinstance(exc, SMTPProtocolError):
        # A reply the client could not read: like a break, safe before the message.
        return not payload_sent
    code = getattr(exc, "smtp_code", None)
    if isinstance(code, int):
        # A temporary refusal, even of the message itself, means the server does not have it.
        return 400 <= code < 500
    # The connection broke: safe only if the message had not started to go out.
    return not payload_sent
