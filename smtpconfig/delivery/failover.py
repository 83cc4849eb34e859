"""Failover: which profiles a message tries, when it may move on, and what each failure was.

A message moves to the next profile only while the server cannot have it:
a failure to connect, start TLS or log in, or a temporary (4xx) reply. Once
the message itself may have reached a server, a broken connection is
reported, never retried elsewhere, so nothing is sent twice.
"""

from __future__ import annotations

import logging
import smtplib
from dataclasses import dataclass
from email.utils import parseaddr

from django.utils.translation import gettext as _

from .. import signals
from ..diagnosis import diagnose
from ..exceptions import SecretUnreadable, SMTPProtocolError
from ..log_events import log_event
from ..transport.steps import Step, StepFailed, describe_error
from .profiles import ResolvedProfile


@dataclass(frozen=True)
class Attempt:
    """One profile that failed, at which step, and why (in the diagnosis's words)."""

    profile: str
    server: str
    step: str
    error: str
    configuration: bool = False
    #: The profile's primary key (None: Django's EMAIL_* settings); not in the log's rows.
    profile_pk: int | None = None

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


def attempt_for(profile: ResolvedProfile, failure: StepFailed, recipient: str = "") -> Attempt:
    """The attempt ``failure`` made of ``profile``, in the diagnosis's words."""
    error = failure.error
    if isinstance(error, SecretUnreadable):
        return Attempt(
            profile.name,
            profile.server,
            Step.AUTH,
            str(error),
            configuration=True,
            profile_pk=profile.pk,
        )
    diagnosis = diagnose(failure.step, error, profile.settings, recipient=recipient)
    problem = diagnosis.problem if diagnosis else describe_error(error)
    return Attempt(profile.name, profile.server, failure.step.value, problem, profile_pk=profile.pk)


def announce_failover(
    sender: type, attempt: Attempt, next_profile: ResolvedProfile | None, message=None
) -> None:
    """Log and signal that ``attempt`` failed and ``next_profile`` is tried next."""
    if next_profile is None:
        return
    # The error comes last: it is a sentence of its own (it ends with a full stop).
    log_event(
        logging.WARNING,
        "failover",
        "SMTP profile “%s” (%s) failed at step “%s”; trying “%s” next. Reason: %s",
        attempt.profile,
        attempt.server,
        attempt.step,
        next_profile.name,
        attempt.error,
        profile=attempt.profile,
        profile_pk=attempt.profile_pk,
        server=attempt.server,
        step=str(attempt.step),
        outcome="failed_over",
        next_profile=next_profile.name,
        next_profile_pk=next_profile.pk,
        recipients=message.recipients() if message is not None else None,
    )
    signals.failover.send(
        sender=sender,
        failed_profile=attempt.profile,
        next_profile=next_profile.name,
        error=attempt.error,
        step=attempt.step,
        server=attempt.server,
        message=message,
    )


def report_failure(sender: type, message, attempts: list[Attempt]) -> None:
    """Log and signal that no profile could send ``message`` (None: open() failed)."""
    story = "; ".join(str(attempt) for attempt in attempts)
    last = attempts[-1] if attempts else None
    log_event(
        logging.ERROR,
        "delivery_failed",
        "SMTP delivery failed: %s",
        story or "no profile could be tried",
        profile=last.profile if last else None,
        profile_pk=last.profile_pk if last else None,
        server=last.server if last else None,
        step=str(last.step) if last else None,
        outcome="failed",
        attempts=len(attempts),
        recipients=message.recipients() if message is not None else None,
    )
    signals.delivery_failed.send(
        sender=sender,
        message=message,
        attempts=[(attempt.profile, attempt.error) for attempt in attempts],
        error=story,
    )


def sender_domain(address: str) -> str:
    """The domain of an address such as ``Name <user@Example.com>``, lower case."""
    return parseaddr(address)[1].rpartition("@")[2].lower().rstrip(".")


def order_for_sender(
    profiles: tuple[ResolvedProfile, ...] | list[ResolvedProfile], domain: str
) -> list[ResolvedProfile]:
    """``profiles`` with those that serve ``domain`` moved to the front (order kept)."""
    serving = [profile for profile in profiles if domain and domain in profile.sender_domains]
    return serving + [profile for profile in profiles if profile not in serving]


def delivery_step(exc: BaseException, connection) -> str:
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


def may_fail_over(exc: BaseException, payload_sent: bool) -> bool:
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


def raise_or_return(attempts, last_error, quiet_result, fail_silently: bool):
    """Raise what went wrong, unless ``fail_silently``; configuration errors always."""
    configuration = [attempt for attempt in attempts if attempt.configuration]
    if attempts and len(configuration) == len(attempts):
        raise SecretUnreadable(configuration[0].error)
    if fail_silently:
        return quiet_result
    if last_error is not None:
        # Drop the frames below this one: smtplib.login's locals hold the password,
        # and Django's error reports (the debug page, mails to ADMINS) list locals.
        last_error = last_error.with_traceback(None)
        last_error.__context__ = None
        last_error.__cause__ = None
    if len(attempts) == 1 and isinstance(last_error, OSError):
        last_error.add_note(f"smtpconfig: SMTP profile {attempts[0]}")
        raise last_error
    raise DeliveryFailed(attempts) from last_error
