"""Reaching the server: DNS and the TCP connection."""

from __future__ import annotations

import socket

from django.utils.translation import gettext as _

from ..providers.presets import is_preset_host
from ..transport.policy import BlockedAddress
from ..transport.settings import Security
from .base import (
    Diagnosis,
    standard_port,
)


def resolve(exc, code, reply, settings, failure) -> Diagnosis:
    if isinstance(exc, TimeoutError):
        return Diagnosis(
            code="dns_timeout",
            problem=_("The DNS lookup of “%(host)s” did not answer in time.")
            % {"host": settings.host},
            fix=_("Check this server's DNS settings and network, then try again."),
            field="host",
            temporary=True,
        )
    if is_preset_host(settings.host):
        # A provider's published name is spelled right: the lookup itself went wrong.
        fix = _(
            "This is the provider's published server name: check this server's DNS "
            "settings and network connection, then try again."
        )
    else:
        fix = _("Check the spelling of the SMTP server name, such as smtp.example.com.")
    return Diagnosis(
        code="host_not_found",
        problem=_("The server name “%(host)s” does not exist in DNS.") % {"host": settings.host},
        fix=fix,
        field="host",
    )


def connect(exc, code, reply, settings, failure) -> Diagnosis:
    where = {"host": settings.host, "port": settings.port}
    standard = standard_port(settings.security)
    if isinstance(exc, BlockedAddress):
        return Diagnosis(
            code="address_blocked",
            problem=_(
                "%(host)s leads to an address this site may not connect to (link-local or "
                "cloud metadata addresses are blocked): %(error)s."
            )
            % {**where, "error": exc},
            fix=_(
                "Check the server name. If this really is your mail server, an operator can "
                "add it to SMTPCONFIG['ALLOWED_HOSTS']."
            ),
            field="host",
        )
    if isinstance(exc, ConnectionRefusedError):
        fix = _("Check the port your provider gives for submission.")
        if standard and standard != settings.port:
            fix += " " + _("With %(mode)s it is usually %(port)s.") % {
                "mode": Security(settings.security).label,
                "port": standard,
            }
        return Diagnosis(
            code="connection_refused",
            problem=_(
                "%(host)s refused the connection on port %(port)s: nothing listens there, "
                "or the mail server is down."
            )
            % where,
            fix=fix,
            field="port",
            suggestion=standard if standard != settings.port else None,
        )
    if isinstance(exc, TimeoutError | socket.timeout):
        alternative = 587 if settings.port != 587 else 465
        return Diagnosis(
            code="connection_timeout",
            problem=_(
                "No answer from %(host)s on port %(port)s within %(timeout)s seconds: a "
                "firewall, or your hosting provider, is probably blocking the port."
            )
            % {**where, "timeout": settings.timeout},
            fix=_(
                "Try port 587 with STARTTLS or port 465 with SSL/TLS (many hosting providers "
                "block port 25), or ask your hosting provider to open the port."
            ),
            field="port",
            suggestion=alternative,
        )
    return Diagnosis(
        code="connection_failed",
        problem=_("Could not connect to %(host)s on port %(port)s: %(error)s.")
        % {**where, "error": failure.detail},
        fix=_("Check the server name and port, and this machine's network connection."),
        field="host",
    )
