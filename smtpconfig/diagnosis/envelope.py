"""The message: sender (MAIL FROM), recipient (RCPT TO) and the message itself (DATA)."""

from __future__ import annotations

from django.utils.translation import gettext as _

from ..providers.presets import known_error_for
from .base import (
    NEEDS_AUTH,
    RELAY_DENIED,
    Diagnosis,
    auth_required,
)
from .signin import send_as_denied


def mail(exc, code, reply, settings, failure) -> Diagnosis:
    if NEEDS_AUTH.search(reply) or code == 530:
        return auth_required(code, reply)
    denied = send_as_denied(code, reply, settings)
    if denied:
        return denied
    match = known_error_for(settings.host, f"{code} {reply}", field="from_email")
    if match:
        preset, known = match
        return Diagnosis(
            code=f"{preset.key}_sender",
            problem=str(known.problem),
            fix=str(known.fix),
            field="from_email",
        )
    suggestion = settings.username if "@" in settings.username else None
    return Diagnosis(
        code="sender_rejected",
        problem=_("The server refused the sender address %(sender)s (%(code)s %(reply)s).")
        % {"sender": settings.from_email, "code": code, "reply": reply},
        fix=_(
            "Most providers only let an account send from its own address or a verified "
            "alias: set the sender email to the account's address."
        ),
        field="from_email",
        suggestion=suggestion if suggestion != settings.from_email else None,
    )


def rcpt(exc, code, reply, settings, failure) -> Diagnosis:
    if RELAY_DENIED.search(reply):
        return Diagnosis(
            code="relay_denied",
            problem=_(
                "The server will not pass mail on to other domains (relaying denied): "
                "%(code)s %(reply)s"
            )
            % {"code": code, "reply": reply},
            fix=_("Log in: enter the user name and password of the mail account.")
            if not settings.username
            else _("Check that this account may send to outside addresses."),
            field="username",
        )
    if NEEDS_AUTH.search(reply):
        return auth_required(code, reply)
    return Diagnosis(
        code="recipient_rejected",
        problem=_("The server refused the recipient %(recipient)s (%(code)s %(reply)s).")
        % {"recipient": failure.recipient, "code": code, "reply": reply},
        fix=_(
            "Check the test recipient's address. The server settings themselves work up to "
            "this point."
        ),
        field="test_recipient",
    )


def data(exc, code, reply, settings, failure) -> Diagnosis:
    denied = send_as_denied(code, reply, settings)
    if denied:
        return denied
    if code == 552 or "5.3.4" in reply:
        return Diagnosis(
            code="message_too_large",
            problem=_("The message is larger than the server accepts (%(code)s %(reply)s).")
            % {"code": code, "reply": reply},
            fix=_("Send smaller messages or ask your provider for a larger limit."),
        )
    if code is None:
        return Diagnosis(
            code="data_interrupted",
            problem=_(
                "The connection broke while the message was being sent (%(error)s); the "
                "server may or may not have accepted it."
            )
            % {"error": failure.detail},
            fix=_("Try again; if it keeps happening, the server or the network is unstable."),
            temporary=True,
        )
    return Diagnosis(
        code="message_rejected",
        problem=_("The server refused the message (%(code)s %(reply)s).")
        % {"code": code, "reply": reply},
        fix=_(
            "The server's policy rejected the content or the sender. Check the sender "
            "address and its domain's SPF and DKIM records."
        ),
        field="from_email",
    )
