"""What a failed SMTP conversation means, and which setting to change.

:func:`diagnose` takes the step that failed, its error (and the server's
reply in it) and the connection settings, and returns a :class:`Diagnosis`:
the problem in plain words, the fix, the form field to change and, where it
can be known, the value to put there. The test (``probe``), ``smtp_test``
and the backend's delivery log all explain a failure through it, so they
say the same thing. One module per group of steps: ``network``, ``tls``,
``session`` (greeting and login), ``envelope`` (sender, recipient, message),
``oauth`` (the access token),
and ``general`` for failures that look the same at any step.
"""

from __future__ import annotations

import smtplib
import socket

from ..exceptions import ConversationTimeout, SMTPProtocolError
from ..transport.settings import ConnectionSettings
from ..transport.steps import Step, describe_error
from . import envelope, general, network, oauth, session, tls
from .base import Diagnosis, Failure, reply_of

_HANDLERS = {
    Step.TOKEN: oauth.token,
    Step.RESOLVE: network.resolve,
    Step.CONNECT: network.connect,
    Step.TLS: tls.tls,
    Step.EHLO: session.ehlo,
    Step.AUTH: session.auth,
    Step.MAIL: envelope.mail,
    Step.RCPT: envelope.rcpt,
    Step.DATA: envelope.data,
}


def diagnose(
    step: Step | str,
    error: BaseException,
    settings: ConnectionSettings,
    *,
    detail: str = "",
    certificate: dict | None = None,
    recipient: str = "",
    address: str = "",
) -> Diagnosis:
    """Explain ``error``, raised at ``step`` with ``settings``.

    ``detail`` is the caller's account of the failure (the error described,
    by default); ``certificate`` the server's, when one was read;
    ``recipient`` the test's recipient or the message's recipients;
    ``address`` the server's address the conversation connected to.
    """
    step = Step(step)
    if isinstance(error, smtplib.SMTPRecipientsRefused) and error.recipients:
        code, reply = next(iter(error.recipients.values()))
        error = smtplib.SMTPResponseException(code, reply)
    failure = Failure(
        step, error, detail or describe_error(error), certificate or {}, recipient, address
    )
    if isinstance(error, ConversationTimeout):
        return general.too_slow(error, settings)
    if isinstance(error, SMTPProtocolError):
        return general.protocol_error(error, settings)
    code, reply = reply_of(error)
    if code is not None and 400 <= code < 500 and step != Step.AUTH:
        return general.temporary(code, reply)
    if (
        code is None
        and step in (Step.AUTH, Step.MAIL, Step.RCPT)
        and isinstance(
            error, TimeoutError | socket.timeout | smtplib.SMTPServerDisconnected | ConnectionError
        )
    ):
        return general.no_answer(failure, settings)
    return _HANDLERS[step](error, code, reply, settings, failure)


__all__ = ["Diagnosis", "diagnose"]
