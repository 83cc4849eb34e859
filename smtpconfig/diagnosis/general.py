"""Failures that are the same at any step: silence, slowness, broken replies, 4xx."""

from __future__ import annotations

from django.utils.translation import gettext as _

from ..exceptions import (
    ConversationTimeout,
    NotAnSMTPServer,
    SMTPProtocolError,
)
from .base import (
    Diagnosis,
    Failure,
    standard_port,
)


def no_answer(failure: Failure, settings) -> Diagnosis:
    return Diagnosis(
        code="no_answer",
        problem=_(
            "The server stopped answering at step “%(step)s” (%(error)s): it did not refuse "
            "anything, it went silent or closed the connection."
        )
        % {"step": failure.step.label, "error": failure.detail},
        fix=_(
            "Try again. If it keeps happening the server is overloaded, or something between "
            "here and %(host)s cuts connections; the timeout (%(timeout)s s) may be too short "
            "for a slow server."
        )
        % {"host": settings.host, "timeout": settings.timeout},
        field="timeout",
        temporary=True,
    )


def too_slow(exc: ConversationTimeout, settings) -> Diagnosis:
    return Diagnosis(
        code="conversation_timeout",
        problem=_(
            "The server answers too slowly: %(error)s. Each answer may take up to the "
            "timeout (%(timeout)s s), and the conversation as a whole is limited too, so "
            "that a slow server cannot hold up the site."
        )
        % {"error": exc, "timeout": settings.timeout},
        fix=_(
            "Try again later. If the server is always this slow, ask its administrator or "
            "use another server. The whole conversation may last three times the timeout, "
            "up to the site's limit (SMTPCONFIG['MAX_CONVERSATION_SECONDS'])."
        ),
        field="timeout",
        temporary=True,
    )


def protocol_error(exc: SMTPProtocolError, settings) -> Diagnosis:
    where = {"host": settings.host, "port": settings.port, "error": exc}
    if isinstance(exc, NotAnSMTPServer):
        standard = standard_port(settings.security)
        return Diagnosis(
            code="not_smtp_server",
            problem=_(
                "Something answers on %(host)s port %(port)s, but it is not an SMTP "
                "server (%(error)s)."
            )
            % where,
            fix=_(
                "Check the server name and port: this port belongs to another service. "
                "Mail submission is usually on port 587 (STARTTLS) or 465 (SSL/TLS)."
            ),
            field="port",
            suggestion=standard if standard != settings.port else None,
        )
    return Diagnosis(
        code="protocol_error",
        problem=_("%(host)s is not a well-behaved SMTP server: %(error)s.") % where,
        fix=_(
            "Check the server name and port. If they are right, the server (or a proxy or "
            "filter in front of it) is broken: ask its administrator."
        ),
        field="host",
    )


def temporary(code: int, reply: str) -> Diagnosis:
    return Diagnosis(
        code="temporary_failure",
        problem=_("The server reported a temporary problem (%(code)s %(reply)s).")
        % {"code": code, "reply": reply},
        fix=_("This is not a settings problem. Try again in a few minutes."),
        temporary=True,
    )
