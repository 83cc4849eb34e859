"""What a failed attempt means for a queued message: try later, give up, or ask a person.

- **Failed for good** (``failed``): the server refused the sender, every
  recipient or the message itself with a permanent (5xx) reply. Trying
  again would get the same answer.
- **Unknown** (``unknown``): the connection broke after the body went out;
  the server may have the message, so it is never sent again automatically.
- **Deferred** (``deferred``): anything else (the server could not be
  reached, TLS or sign-in failed, a token could not be refreshed, a 4xx
  reply): tried again after a growing delay with jitter, until
  ``OUTBOX_MAX_ATTEMPTS`` attempts or ``OUTBOX_MAX_AGE``.
"""

from __future__ import annotations

import random
import smtplib
from datetime import timedelta

from django.utils import timezone

from ..conf import get_setting
from ..exceptions import SMTPProtocolError
from ..models import OutboxState
from ..transport.steps import Step

#: Steps at which a failure means the server (or the way to it) is not available, rather
#: than something about one message: messages queued behind such a failure wait with it.
CONNECTION_STEPS = frozenset(
    step.value for step in (Step.TOKEN, Step.RESOLVE, Step.CONNECT, Step.TLS, Step.EHLO, Step.AUTH)
)
_LONGEST_DELAY = 3600.0


def _code(error: BaseException) -> int | None:
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        codes = [code for code, _reply in error.recipients.values()]
        if codes and all(code >= 500 for code in codes):
            return 550
        return 450
    code = getattr(error, "smtp_code", None)
    return code if isinstance(code, int) else None


def outcome_of(error: BaseException | None, step: str, payload_sent: bool) -> str:
    """The state a message ends in after ``error`` at ``step``: failed, unknown or deferred."""
    code = _code(error) if error is not None else None
    readable_reply = code is not None and not isinstance(error, SMTPProtocolError)
    if readable_reply and 500 <= code < 600 and step not in CONNECTION_STEPS:
        # A permanent refusal of the sender, the recipients or the message itself.
        return OutboxState.FAILED
    if payload_sent and not (readable_reply and 400 <= code < 500):
        # The connection broke (or a reply could not be read) once the body was going out.
        return OutboxState.UNKNOWN
    return OutboxState.DEFERRED


def delay(attempts: int) -> timedelta:
    """How long to wait after the ``attempts``-th failed attempt: about OUTBOX_RETRY_DELAY
    seconds after the first, doubling after each, at most an hour, with up to 50% jitter
    so that messages deferred together do not all come back at once."""
    base = float(get_setting("OUTBOX_RETRY_DELAY"))
    seconds = min(_LONGEST_DELAY, base * 2 ** max(0, attempts - 1))
    return timedelta(seconds=seconds * random.uniform(1.0, 1.5))


def gives_up(attempts: int, created_at) -> bool:
    """Whether a message tried ``attempts`` times, queued at ``created_at``, has had enough."""
    if attempts >= int(get_setting("OUTBOX_MAX_ATTEMPTS")):
        return True
    max_age = timedelta(seconds=float(get_setting("OUTBOX_MAX_AGE")))
    return timezone.now() - created_at >= max_age
