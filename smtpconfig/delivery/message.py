"""One message over an open connection, as Django's backend sends it."""

from __future__ import annotations

from django.conf import settings
from django.core.mail.message import sanitize_address

from ..transport.steps import reply_text
from .profiles import ResolvedProfile


def sender_for(email_message, target: ResolvedProfile) -> str:
    """The sender ``email_message`` goes out with through ``target``: the profile's where
    the message left it to ``DEFAULT_FROM_EMAIL``, else the message's own."""
    if email_message.from_email == settings.DEFAULT_FROM_EMAIL:
        return target.sender
    return str(email_message.from_email)


def deliver(connection, email_message, target: ResolvedProfile) -> tuple[str, str, str]:
    """Send one message on the open connection; return (final reply, sender, Message-ID).

    Django's ``_send``, except that the exception always reaches the
    caller (which decides about failover) and the sender and reply-to
    come from the profile where the message left them to the defaults.
    """
    original_sender, original_reply_to = email_message.from_email, email_message.reply_to
    email_message.from_email = sender_for(email_message, target)
    if not email_message.reply_to and target.reply_to:
        email_message.reply_to = [target.reply_to]
    try:
        encoding = email_message.encoding or settings.DEFAULT_CHARSET
        from_email = sanitize_address(email_message.from_email, encoding)
        recipients = [sanitize_address(addr, encoding) for addr in email_message.recipients()]
        message = email_message.message()
        connection.sendmail(from_email, recipients, message.as_bytes(linesep="\r\n"))
        code, reply = getattr(connection, "last_data_reply", (250, b""))
        return (
            f"{code} {reply_text(reply)}".strip(),
            from_email,
            message.get("Message-ID", ""),
        )
    finally:
        email_message.from_email, email_message.reply_to = original_sender, original_reply_to
