"""OAuth2: getting an access token from the provider's token endpoint."""

from __future__ import annotations

import urllib.parse

from django.utils.translation import gettext as _

from ..exceptions import TokenRefused
from .base import Diagnosis


def token(exc, code, reply, settings, failure) -> Diagnosis:
    request = settings.oauth_request
    endpoint = urllib.parse.urlsplit(request.token_url).netloc if request else ""
    if not isinstance(exc, TokenRefused):
        return Diagnosis(
            code="token_endpoint_unreachable",
            problem=_("The token endpoint %(endpoint)s could not be reached: %(error)s.")
            % {"endpoint": endpoint, "error": failure.detail},
            fix=_(
                "Check that this server can reach the provider over HTTPS (a firewall or "
                "proxy may block it), then try again."
            ),
            temporary=True,
        )
    said = {"endpoint": endpoint, "error": str(exc)}
    if exc.error == "insufficient_scope":
        # Said by the transport, not the endpoint: the token lacks the scope to send mail.
        return Diagnosis(
            code="oauth_scope_missing",
            problem=_(
                "%(endpoint)s gave an access token without the permission to send mail "
                "(%(description)s): the app lacks the SMTP permission."
            )
            % {"endpoint": endpoint, "description": exc.description},
            fix=_(
                "Add the SMTP permission to the app at the provider (Microsoft: SMTP.Send, "
                "delegated, with admin consent; Google: the https://mail.google.com/ scope), "
                "allow it when signing in, then connect the account again."
            ),
            field="oauth_account",
        )
    if exc.error == "invalid_grant":
        return Diagnosis(
            code="oauth_invalid_grant",
            problem=_(
                "%(endpoint)s no longer accepts the connected account's refresh token "
                "(%(error)s): consent was revoked, the password changed, or the token expired."
            )
            % said,
            fix=_(
                "Connect the account again. For Google, an app still in “Testing” status "
                "gets refresh tokens that expire after 7 days: publish it."
            ),
        )
    if exc.error == "invalid_client":
        return Diagnosis(
            code="oauth_invalid_client",
            problem=_("%(endpoint)s refused the client id or secret (%(error)s).") % said,
            fix=_(
                "Check the client id and enter the client secret again; Microsoft client "
                "secrets expire, so make a new one if it has."
            ),
        )
    if exc.error in ("unauthorized_client", "unsupported_grant_type"):
        return Diagnosis(
            code="oauth_grant_not_allowed",
            problem=_("The app may not use this kind of sign-in at %(endpoint)s (%(error)s).")
            % said,
            fix=_("Allow the grant in the app's registration at the provider, or connect again."),
        )
    if "AADSTS" in exc.description:
        return Diagnosis(
            code="oauth_tenant_or_consent",
            problem=_("Microsoft refused the token request (%(error)s).") % said,
            fix=_(
                "Check the tenant (organizations, consumers, or your tenant id or domain) and "
                "that an administrator granted consent to the app."
            ),
        )
    return Diagnosis(
        code="oauth_token_refused",
        problem=_("%(endpoint)s refused to give an access token (%(error)s).") % said,
        fix=_("Check the OAuth2 settings of this profile, or connect the account again."),
    )
