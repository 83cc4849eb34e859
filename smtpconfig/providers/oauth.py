"""OAuth2 providers for SMTP sign-in: their endpoints and the scopes SMTP needs, as data.

Microsoft's endpoints depend on the tenant: ``organizations`` (any work or
school account: Microsoft 365), ``consumers`` (Outlook.com), or a tenant id
or domain (required for app-only sign-in). A custom provider names its own
endpoints.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import TextChoices
from django.utils.translation import gettext_lazy as _


class OAuthProvider(TextChoices):
    MICROSOFT = "microsoft", _("Microsoft (Microsoft 365, Outlook.com)")
    GOOGLE = "google", _("Google (Gmail, Google Workspace)")
    CUSTOM = "custom", _("Other (its own endpoints)")


class OAuthGrant(TextChoices):
    """How the profile gets its tokens."""

    #: A person connected an account (authorization code or device code): a refresh token.
    REFRESH_TOKEN = "refresh_token", _("Connected account (refresh token)")
    #: Microsoft 365 app-only: tenant id, client id and secret, no person involved.
    CLIENT_CREDENTIALS = "client_credentials", _("App-only (client credentials)")


@dataclass(frozen=True)
class Endpoints:
    """Where to send a person to consent, where to ask for tokens, and what to ask for."""

    authorize_url: str
    token_url: str
    device_code_url: str
    scope: str


_MICROSOFT = "https://login.microsoftonline.com/{tenant}/oauth2/v2.0"
MICROSOFT_SMTP_SCOPE = "https://outlook.office.com/SMTP.Send offline_access"
MICROSOFT_APP_ONLY_SCOPE = "https://outlook.office365.com/.default"
GOOGLE_SMTP_SCOPE = "https://mail.google.com/"


def endpoints(
    provider: str,
    *,
    tenant: str = "",
    grant: str = OAuthGrant.REFRESH_TOKEN,
    authorize_url: str = "",
    token_url: str = "",
    device_code_url: str = "",
    scope: str = "",
) -> Endpoints:
    """The endpoints and scope for ``provider`` (explicit values win: a custom provider,
    or a scope an administrator overrides)."""
    if provider == OAuthProvider.MICROSOFT:
        base = _MICROSOFT.format(tenant=(tenant or "organizations").strip())
        default_scope = (
            MICROSOFT_APP_ONLY_SCOPE
            if grant == OAuthGrant.CLIENT_CREDENTIALS
            else MICROSOFT_SMTP_SCOPE
        )
        return Endpoints(
            authorize_url=authorize_url or f"{base}/authorize",
            token_url=token_url or f"{base}/token",
            device_code_url=f"{base}/devicecode",
            scope=scope or default_scope,
        )
    if provider == OAuthProvider.GOOGLE:
        return Endpoints(
            authorize_url=authorize_url or "https://accounts.google.com/o/oauth2/v2/auth",
            token_url=token_url or "https://oauth2.googleapis.com/token",
            device_code_url="https://oauth2.googleapis.com/device/code",
            scope=scope or GOOGLE_SMTP_SCOPE,
        )
    return Endpoints(
        authorize_url=authorize_url,
        token_url=token_url,
        device_code_url=device_code_url,
        scope=scope,
    )
