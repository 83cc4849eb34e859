"""The SMTP session: the greeting and EHLO, and the login."""

from __future__ import annotations

import smtplib
import socket

from django.utils.translation import gettext as _

from ..exceptions import (
    PasswordMissing,
    PlaintextAuthRefused,
    TokenMissing,
)
from ..providers.presets import known_error_for
from ..transport.settings import LoginMethod, Security
from .base import (
    NEEDS_TLS,
    Diagnosis,
)
from .general import temporary
from .provider import login_refused_by, provider_of
from .signin import login_refused, token_refused


def ehlo(exc, code, reply, settings, failure) -> Diagnosis:
    if (
        isinstance(exc, TimeoutError | socket.timeout | smtplib.SMTPServerDisconnected)
        and settings.security != Security.SSL
    ):
        return Diagnosis(
            code="no_greeting",
            problem=_(
                "The server on port %(port)s accepted the connection but sent no SMTP "
                "greeting: it probably expects SSL/TLS from the first byte."
            )
            % {"port": settings.port},
            fix=_("Choose SSL/TLS (port 465 is the usual SSL/TLS port)."),
            field="security",
            suggestion=Security.SSL,
        )
    if code is not None:
        return Diagnosis(
            code="greeting_refused",
            problem=_("The server refused the session: %(code)s %(reply)s")
            % {"code": code, "reply": reply},
            fix=_(
                "The server does not accept mail from this machine. Check with your provider "
                "that this server's address may use it."
            ),
            field="host",
        )
    return Diagnosis(
        code="greeting_failed",
        problem=_("The SMTP greeting failed: %(error)s.") % {"error": failure.detail},
        fix=_("Check the SSL/TLS mode and port."),
        field="security",
    )


def auth(exc, code, reply, settings, failure) -> Diagnosis:
    if isinstance(exc, PlaintextAuthRefused):
        return Diagnosis(
            code="plaintext_auth_refused",
            problem=_(
                "The SSL/TLS mode is “None”, so the user name and password would cross the "
                "network unencrypted. They were not sent."
            ),
            fix=_(
                "Choose STARTTLS (port 587) or SSL/TLS (port 465). Only if the server cannot "
                "encrypt and sits on a network you trust, tick “Allow password over an "
                "unencrypted connection”."
            ),
            field="security",
            suggestion=Security.STARTTLS,
        )

    if isinstance(exc, smtplib.SMTPNotSupportedError):
        # The probe's AuthNotOffered, or smtplib's "SMTP AUTH extension not supported".
        encrypted = settings.security != Security.NONE
        return Diagnosis(
            code="auth_not_offered",
            problem=_(
                "A user name is set, but the server does not offer authentication (no AUTH "
                "in its reply to EHLO)."
            ),
            fix=_("If this server needs no login, clear the user name.")
            if encrypted
            else _(
                "Many servers offer AUTH only on an encrypted connection: choose STARTTLS "
                "or SSL/TLS. If this server needs no login, clear the user name."
            ),
            field="username" if encrypted else "security",
            suggestion=None if encrypted else Security.STARTTLS,
        )
    if isinstance(exc, PasswordMissing):
        return Diagnosis(
            code="password_missing",
            problem=_("A user name is set but no password is stored."),
            fix=_("Enter the password, or clear the user name if the server needs no login."),
            field="password",
        )
    if isinstance(exc, TokenMissing):
        return Diagnosis(
            code="oauth_not_connected",
            problem=_("OAuth2 is chosen, but no account is connected to this profile yet."),
            fix=_("Connect the account (the “Connect account” button), then test again."),
            field="oauth_account",
        )
    if code is not None and 400 <= code < 500:
        return temporary(code, reply)
    oauth = settings.login_method == LoginMethod.OAUTH2
    known = login_refused(code, reply, settings)
    if known:
        return known
    # The provider's own rules come last (after a reply that says what is wrong by itself):
    # its user name is not always the full email address.
    preset = None if oauth else provider_of(settings)
    match = None if oauth else known_error_for(settings.host, f"{code} {reply}")
    if match and (match[0] is not preset or match[1].distinctive):
        preset, known = match
        return Diagnosis(
            code=f"{preset.key}_auth",
            problem=str(known.problem),
            fix=str(known.fix),
            field=known.field,
        )
    if code == 530 or (code is not None and NEEDS_TLS.search(reply)):
        return Diagnosis(
            code="auth_needs_tls",
            problem=_("The server wants an encrypted connection before login: %(reply)s")
            % {"reply": reply},
            fix=_("Choose STARTTLS (port 587) or SSL/TLS (port 465)."),
            field="security",
            suggestion=Security.STARTTLS,
        )
    if code is None and oauth:
        return Diagnosis(
            code="xoauth2_not_offered",
            problem=_("The server does not offer OAuth2 sign-in (AUTH XOAUTH2): %(error)s.")
            % {"error": failure.detail},
            fix=_(
                "Check the server name: OAuth2 sign-in works with the providers' own "
                "submission servers. For this server, choose password sign-in."
            ),
            field="auth_method",
        )
    if code is None:
        return Diagnosis(
            code="auth_mechanism_unsupported",
            problem=_("No authentication method in common with the server: %(error)s.")
            % {"error": failure.detail},
            fix=_(
                "The server offers none of PLAIN, LOGIN or CRAM-MD5; it may require OAuth2. "
                "Ask your provider for password-based SMTP access or use another provider."
            ),
            field="username",
        )
    if oauth:
        return token_refused(code, reply, settings)
    if preset is not None:
        return login_refused_by(preset, code, reply, settings)
    return Diagnosis(
        code="auth_failed",
        problem=_("The server rejected the user name or password (%(code)s %(reply)s).")
        % {"code": code, "reply": reply},
        fix=_(
            "Check the user name (usually the full email address) and type the password "
            "again. Many providers need an app password rather than your normal password."
        ),
        field="password",
    )
