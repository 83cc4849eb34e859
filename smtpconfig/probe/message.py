"""The test email: it says which profile and server sent it."""

from __future__ import annotations

from django.core.mail import EmailMessage
from django.utils.translation import gettext as _

from ..transport.settings import ConnectionSettings, Security, format_sender


def build_test_message(settings: ConnectionSettings, recipient: str) -> EmailMessage:
    """The test email: says which profile and server sent it."""
    name = settings.profile_name or settings.host
    body = _(
        "This is a test email from the SMTP profile “%(profile)s”.\n\n"
        "Server: %(host)s, port %(port)s, security %(security)s\n"
        "Sender: %(sender)s\n\n"
        "If you are reading this, the server accepted the message and delivered it.\n"
    ) % {
        "profile": name,
        "host": settings.host,
        "port": settings.port,
        "security": Security(settings.security).label,
        "sender": format_sender(settings.from_name, settings.from_email),
    }
    return EmailMessage(
        subject=_("SMTP test email: %(profile)s") % {"profile": name},
        body=body,
        from_email=format_sender(settings.from_name, settings.from_email),
        to=[recipient],
        reply_to=[settings.reply_to] if settings.reply_to else None,
        headers={"Auto-Submitted": "auto-generated"},
    )
