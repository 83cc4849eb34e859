"""Microsoft's and Google's refusals of a login or a sender, told apart by sign-in method.

The same reply means different things for a password and for an OAuth2
token: Microsoft's ``535 5.7.3`` is a wrong password, or a token without the
``SMTP.Send`` permission; Google's ``535-5.7.8`` a revoked app password, or a
token whose consent expired. The providers' replies are recognised by their
own wording, whatever the server's host is called (a relay's alias, a test
server). The advice is today's: app passwords or OAuth2, never turning a
security feature off.
"""

from __future__ import annotations

import re

from django.utils.translation import gettext as _

from ..providers.presets import preset_for_host
from ..transport.settings import LoginMethod
from .base import Diagnosis

# Microsoft: SMTP AUTH off for the tenant or the mailbox, or security defaults on.
MICROSOFT_SMTP_AUTH_OFF = re.compile(
    r"5\.7\.139|SmtpClientAuthentication is disabled|basic authentication is disabled", re.I
)
# Microsoft: "535 5.7.3 Authentication unsuccessful" (a password, or a token, refused).
MICROSOFT_AUTH_UNSUCCESSFUL = re.compile(r"\b5\.7\.3\b", re.I)
# Microsoft: the mailbox may not send as this sender (at MAIL FROM, or after DATA).
SEND_AS_DENIED = re.compile(r"5\.7\.60|SendAsDenied|not allowed to send as", re.I)
# Google: "534-5.7.9 Application-specific password required".
GOOGLE_APP_PASSWORD_REQUIRED = re.compile(r"\b5\.7\.9\b|application-specific password", re.I)
# Google: "535-5.7.8 Username and Password not accepted ... BadCredentials".
GOOGLE_NOT_ACCEPTED = re.compile(r"Username and Password not accepted|BadCredentials", re.I)

_APP_PASSWORDS = "https://myaccount.google.com/apppasswords"
_SET_CAS_MAILBOX = "Set-CASMailbox -Identity <mailbox> -SmtpClientAuthenticationDisabled $false"


def login_refused(code: int | None, reply: str, settings) -> Diagnosis | None:
    """What a provider's refusal of the login means for this sign-in method, if it is one
    this module knows."""
    if code is None:
        return None
    oauth = settings.login_method == LoginMethod.OAUTH2
    said = {"code": code, "reply": reply, "user": settings.username}
    if MICROSOFT_SMTP_AUTH_OFF.search(reply):
        outlook_com = getattr(preset_for_host(settings.host), "key", "") == "outlook"
        return _microsoft_smtp_auth_off(said, oauth, outlook_com)
    if MICROSOFT_AUTH_UNSUCCESSFUL.search(reply):
        return _microsoft_token_refused(said, settings) if oauth else _microsoft_password(said)
    if GOOGLE_APP_PASSWORD_REQUIRED.search(reply) or GOOGLE_NOT_ACCEPTED.search(reply):
        if oauth:
            return _google_token_refused(said)
        if GOOGLE_APP_PASSWORD_REQUIRED.search(reply):
            return _google_app_password_required(said)
        return _google_app_password_refused(said)
    return None


def token_refused(code: int | None, reply: str, settings) -> Diagnosis:
    """Any other server's refusal of an OAuth2 access token."""
    return Diagnosis(
        code="oauth_token_rejected",
        problem=_(
            "The server refused the access token for %(user)s (%(code)s %(reply)s): the "
            "user name is not the connected account's mailbox, or the app may not send mail "
            "(the SMTP scope, with consent)."
        )
        % {"user": settings.username, "code": code, "reply": reply},
        fix=_(
            "Set the user name to the address of the connected account, check that the "
            "app is allowed the scope to send mail, then connect the account again."
        ),
        field="username",
    )


def send_as_denied(code: int | None, reply: str, settings) -> Diagnosis | None:
    """The mailbox may not send as the From address (Microsoft's ``5.7.60``/``SendAsDenied``)."""
    if code is None or not SEND_AS_DENIED.search(reply):
        return None
    account = settings.username if "@" in settings.username else ""
    return Diagnosis(
        code="send_as_denied",
        problem=_(
            "The server does not let the signed-in mailbox send as %(sender)s (%(code)s "
            "%(reply)s): not allowed to send as this sender."
        )
        % {"sender": settings.from_email, "code": code, "reply": reply},
        fix=_(
            "Set the From address to the signed-in mailbox, or to an address it may send "
            "as (an administrator grants “Send As” permission in the Exchange admin center)."
        ),
        field="from_email",
        suggestion=account if account and account != settings.from_email else None,
    )


def _microsoft_smtp_auth_off(said: dict, oauth: bool, outlook_com: bool) -> Diagnosis:
    problem = _(
        "Microsoft 365 refused the login (%(code)s %(reply)s): SMTP AUTH is disabled for "
        "the tenant or the mailbox, or security defaults are on."
    )
    if oauth:
        return Diagnosis(
            code="microsoft365_auth",
            problem=problem % said,
            fix=_(
                "OAuth2 sign-in to SMTP needs SMTP AUTH too: an administrator must enable "
                "Authenticated SMTP for the mailbox (Exchange Online PowerShell: "
                "%(command)s) and check that security defaults do not block it."
            )
            % {"command": _SET_CAS_MAILBOX},
            field="",
        )
    if outlook_com:
        return Diagnosis(
            code="outlook_auth",
            problem=_(
                "Microsoft refused password sign-in for this Outlook.com account (%(code)s "
                "%(reply)s): Microsoft has turned it off for personal accounts."
            )
            % said,
            fix=_("Switch the sign-in to OAuth2 and connect the account."),
            field="auth_method",
        )
    return Diagnosis(
        code="microsoft365_auth",
        problem=problem % said,
        fix=_(
            "Microsoft turns password sign-in for SMTP off by default at the end of December "
            "2026: switch the sign-in to OAuth2. Until then an administrator can enable "
            "Authenticated SMTP for the mailbox (Microsoft 365 admin center › Users › Mail › "
            "Manage email apps, or %(command)s)."
        )
        % {"command": _SET_CAS_MAILBOX},
        field="auth_method",
    )


def _microsoft_token_refused(said: dict, settings) -> Diagnosis:
    request = settings.oauth_request
    if request is not None and request.grant_type == "client_credentials":
        fix = _(
            "Give the app the SMTP.SendAsApp permission with admin consent, register its "
            "service principal in Exchange Online (New-ServicePrincipal) and give it access "
            "to the mailbox %(user)s (Add-MailboxPermission)."
        )
    else:
        fix = _(
            "Give the app the SMTP.Send permission (delegated) with admin consent, set the "
            "user name to the mailbox of the account that consented, then connect the account "
            "again."
        )
    return Diagnosis(
        code="microsoft365_token_refused",
        problem=_(
            "Microsoft 365 did not accept the access token (%(code)s %(reply)s): the app lacks "
            "the SMTP.Send permission or admin consent, or the user name %(user)s is not the "
            "mailbox of the account that consented."
        )
        % said,
        fix=fix % said,
        field="username",
    )


def _microsoft_password(said: dict) -> Diagnosis:
    return Diagnosis(
        code="microsoft365_auth",
        problem=_(
            "Microsoft 365 did not accept the user name and password (%(code)s %(reply)s): "
            "the password is wrong, or password sign-in is blocked for this account "
            "(multi-factor authentication, security defaults or Conditional Access)."
        )
        % said,
        fix=_(
            "Type the password again. If it is right, password sign-in is blocked: switch the "
            "sign-in to OAuth2 (Microsoft turns password sign-in for SMTP off by default at "
            "the end of December 2026)."
        ),
        field="password",
    )


def _google_app_password_required(said: dict) -> Diagnosis:
    return Diagnosis(
        code="gmail_auth",
        problem=_(
            "Google requires an app password for this account (%(code)s %(reply)s): a normal "
            "Google password is always refused."
        )
        % said,
        fix=_(
            "Create an app password at %(url)s (it needs 2-Step Verification; do not turn "
            "2-Step Verification off) and enter it here, or switch the sign-in to OAuth2."
        )
        % {"url": _APP_PASSWORDS},
        field="password",
    )


def _google_app_password_refused(said: dict) -> Diagnosis:
    return Diagnosis(
        code="gmail_auth",
        problem=_(
            "Google did not accept the user name and password (%(code)s %(reply)s): the app "
            "password is wrong, or it was revoked when the account's password was changed. A "
            "normal Google password is always refused."
        )
        % said,
        fix=_(
            "Create a new app password at %(url)s (it needs 2-Step Verification) and enter "
            "it here, or switch the sign-in to OAuth2."
        )
        % {"url": _APP_PASSWORDS},
        field="password",
    )


def _google_token_refused(said: dict) -> Diagnosis:
    return Diagnosis(
        code="gmail_token_refused",
        problem=_(
            "Google did not accept the access token (%(code)s %(reply)s): the consent expired "
            "or was revoked, or the token's scope is not https://mail.google.com/."
        )
        % said,
        fix=_(
            "Leave the scopes blank (or set them to https://mail.google.com/), then connect "
            "the account again."
        ),
        field="oauth_account",
    )
