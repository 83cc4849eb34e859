"""What one connection to an SMTP server needs to know: one value, whoever asks.

A saved profile (:meth:`SMTPProfile.connection_settings`), the admin's
unsaved form (:meth:`SMTPProfileForm.connection_settings`) and a backend built
with explicit arguments or Django's ``EMAIL_*`` settings all turn into a
:class:`ConnectionSettings`; the transport, the probe, the diagnosis and the
backend all take one. No database here.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from email.headerregistry import Address
from typing import Any

from django.db.models import TextChoices
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy


class Security(TextChoices):
    """How the connection to the server is protected: one field, never two booleans."""

    # In context: Django's own catalogs translate a bare "None" as "no value".
    NONE = "none", pgettext_lazy("SSL/TLS mode", "None")
    STARTTLS = "starttls", _("STARTTLS")
    SSL = "ssl", _("SSL/TLS")


class LoginMethod(TextChoices):
    """How a connection logs in: not at all, with a password, or with an OAuth2 token."""

    NONE = "none", _("No login")
    PASSWORD = "password", _("Password")
    OAUTH2 = "oauth2", _("OAuth2")


#: The port each encrypted mode usually runs on (RFC 8314: 465; RFC 6409: 587).
STANDARD_PORTS = {Security.SSL: 465, Security.STARTTLS: 587}


def strip_brackets(host: str) -> str:
    """A host without the brackets an IPv6 address may be written with."""
    return host.strip().removeprefix("[").removesuffix("]")


def format_server(host: str, port: int) -> str:
    """``host:port``, with an IPv6 address in brackets."""
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"{host}:{port}"


def format_sender(display_name: str, address: str) -> str:
    """``Display Name <address>``, quoted where needed and not yet RFC 2047 encoded.

    Django encodes a non-ASCII display name when it builds the message, so the
    name is left readable here (encoding it twice would show encoded words).
    """
    if not display_name:
        return address
    try:
        return str(Address(display_name=display_name, addr_spec=address))
    except (ValueError, IndexError):
        # An address the header parser will not take apart (a non-ASCII local part):
        # quote the name by hand rather than lose it.
        quoted = display_name.replace("\\", "\\\\").replace('"', '\\"')
        return f'"{quoted}" <{address}>'


@dataclass(frozen=True)
class ConnectionSettings:
    """One server, how to reach it, how to log in, and who sends: a profile's, saved or not."""

    host: str
    port: int
    security: str = Security.STARTTLS
    username: str = ""
    password: str = field(default="", repr=False)
    timeout: float | None = 10
    verify_certificate: bool = True
    ca_certificate: str = ""
    from_email: str = ""
    from_name: str = ""
    reply_to: str = ""
    profile_name: str = ""
    allow_plaintext_auth: bool = False
    #: Password (the default) or OAuth2 (``oauth_token``, sent with XOAUTH2).
    login_method: str = LoginMethod.PASSWORD
    #: An OAuth2 access token, already obtained (never stored: tokens are short-lived).
    oauth_token: str = field(default="", repr=False)
    #: Where and how to obtain one when ``oauth_token`` is blank (a ``tokens.TokenRequest``).
    oauth_request: Any = None
    #: A client certificate (Django's ``EMAIL_SSL_CERTFILE`` / ``EMAIL_SSL_KEYFILE``).
    client_certfile: str | None = None
    client_keyfile: str | None = field(default=None, repr=False)
    #: The provider preset the profile was made from (a preset key; blank for none): the
    #: diagnosis explains a refused login by that provider's rules.
    provider: str = ""

    @classmethod
    def from_profile(
        cls, profile: Any, *, password: str | None = None, secrets: bool = True
    ) -> ConnectionSettings:
        """Settings from a profile (anything with its fields); ``password`` (when given)
        replaces the stored one, which is otherwise read with ``readable_password()``
        (and the OAuth2 secrets with ``token_request()``), and may raise
        :class:`~smtpconfig.exceptions.SecretUnreadable`. ``secrets=False`` reads none
        (for a profile whose secrets cannot be used, still shown and failed over)."""
        method = getattr(profile, "auth_method", LoginMethod.PASSWORD)
        oauth = method == LoginMethod.OAUTH2
        if not secrets:
            password = ""
        return cls(
            login_method=method,
            oauth_request=profile.token_request() if oauth and secrets else None,
            host=profile.host,
            port=profile.port,
            security=profile.security,
            username=profile.username,
            password=(
                "" if oauth else profile.readable_password() if password is None else password
            ),
            timeout=profile.timeout,
            verify_certificate=profile.verify_certificate,
            ca_certificate=profile.ca_certificate,
            from_email=profile.from_email,
            from_name=profile.from_name,
            reply_to=profile.reply_to,
            profile_name=profile.name,
            allow_plaintext_auth=profile.allow_plaintext_auth,
            provider=getattr(profile, "provider", "") or "",
        )

    @property
    def connect_host(self) -> str:
        """The host without the brackets an IPv6 address may be written with."""
        return strip_brackets(self.host)

    @property
    def server(self) -> str:
        """``host:port``, with an IPv6 address in brackets."""
        return format_server(self.connect_host, self.port)

    @property
    def sender(self) -> str:
        """The sender as it appears in a From header: ``Display Name <address>``."""
        return format_sender(self.from_name, self.from_email)

    @property
    def logs_in(self) -> bool:
        """Whether the conversation includes a login (a method and a user name are set)."""
        return self.login_method != LoginMethod.NONE and bool(self.username)

    def replace(self, **changes) -> ConnectionSettings:
        """These settings with ``changes`` applied."""
        return dataclasses.replace(self, **changes)
