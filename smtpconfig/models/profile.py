"""The SMTP profile: one outgoing-mail server and how to send through it."""

from __future__ import annotations

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from ..conf import get_setting
from ..providers.oauth import OAuthGrant, OAuthProvider
from ..providers.presets import Preset, get_preset, validate_provider
from ..signals import profiles_updated
from ..transport.deadline import MAX_PROFILE_TIMEOUT
from ..transport.settings import (
    ConnectionSettings,
    LoginMethod,
    Security,
    format_sender,
    format_server,
)
from ..validators import (
    HeaderSafeValidator,
    split_domains,
    validate_domain_list,
    validate_pem_certificates,
    validate_smtp_host,
)
from .oauth_secrets import OAuthSecretsMixin
from .sealed_password import SealedPasswordMixin
from .single_default import SingleDefaultMixin


def _default_timeout() -> int:
    return int(get_setting("DEFAULT_TIMEOUT"))


class SMTPProfileQuerySet(models.QuerySet):
    def update(self, **kwargs) -> int:
        """Update, and tell every process that uses a shared cache to reload the profiles.

        ``QuerySet.update()`` sends no ``post_save``; the database's own record
        of changes (see :class:`ProfilesVersion`) needs no announcement, a
        shared cache (``SMTPCONFIG["CACHE"]``) does.
        """
        rows = super().update(**kwargs)
        if rows:
            profiles_updated.send(sender=self.model)
        return rows

    def enabled(self) -> SMTPProfileQuerySet:
        """Profiles that may be used to send mail."""
        return self.filter(enabled=True)

    def in_sending_order(self) -> SMTPProfileQuerySet:
        """Enabled profiles in failover order: the default, then by priority and name."""
        return self.enabled().order_by("-is_default", "priority", "name")


class SMTPProfile(SealedPasswordMixin, OAuthSecretsMixin, SingleDefaultMixin, models.Model):
    """An outgoing-mail server, its credentials and the sender it sends as.

    The password is stored encrypted (see :mod:`smtpconfig.crypto`): assign
    plain text to :attr:`password` and read plain text back from it; only
    the ciphertext reaches the database.
    """

    name = models.CharField(
        _("name"),
        max_length=100,
        unique=True,
        # The name goes into the test email's Subject and into log lines.
        validators=[HeaderSafeValidator()],
        help_text=_("A name for this server, such as “Office 365” or “Mailgun backup”."),
    )
    enabled = models.BooleanField(
        _("enabled"),
        default=True,
        help_text=_("Only enabled profiles are used to send the site's mail."),
    )
    is_default = models.BooleanField(
        _("default"),
        default=False,
        help_text=_(
            "The site's mail goes out through the default profile. Making this profile "
            "the default takes the mark off the previous one."
        ),
    )
    priority = models.PositiveIntegerField(
        _("failover order"),
        default=100,
        validators=[MaxValueValidator(100000)],
        help_text=_(
            "When a server cannot be reached or refuses the login, the next enabled profile "
            "is tried: the default first, then by this number, lowest first."
        ),
    )
    sender_domains = models.CharField(
        _("sender domains"),
        max_length=1000,
        blank=True,
        validators=[validate_domain_list],
        help_text=_(
            "Optional: domains this profile sends for, separated by spaces or commas (such "
            "as example.com). A message from one of them goes through this profile first."
        ),
    )
    provider = models.CharField(
        _("provider"),
        max_length=50,
        blank=True,
        validators=[validate_provider],
        help_text=_("The provider preset this profile was made from (blank: a server of its own)."),
    )
    host = models.CharField(
        _("SMTP server"),
        max_length=255,
        validators=[validate_smtp_host],
        help_text=_("The outgoing-mail server's name, such as smtp.gmail.com."),
    )
    port = models.PositiveIntegerField(
        _("port"),
        default=587,
        validators=[MinValueValidator(1), MaxValueValidator(65535)],
        help_text=_("Usually 587 with STARTTLS or 465 with SSL/TLS; 25 is often blocked."),
    )
    security = models.CharField(
        _("SSL/TLS mode"),
        max_length=10,
        choices=Security.choices,
        default=Security.STARTTLS,
        help_text=_(
            "STARTTLS starts plain and switches to encryption (port 587); SSL/TLS is "
            "encrypted from the first byte (port 465). None sends everything in clear text."
        ),
    )
    username = models.CharField(
        _("user name"),
        max_length=254,
        blank=True,
        validators=[HeaderSafeValidator()],
        help_text=_("Usually the full email address. Leave blank if the server needs no login."),
    )
    password_encrypted = models.TextField(
        _("encrypted password"),
        blank=True,
        default="",
        editable=False,
    )
    from_email = models.EmailField(
        _("sender email"),
        validators=[HeaderSafeValidator()],
        help_text=_(
            "The address mail is sent from. Most providers require it to be the account's "
            "own address or a verified alias."
        ),
    )
    from_name = models.CharField(
        _("display name"),
        max_length=100,
        blank=True,
        validators=[HeaderSafeValidator()],
        help_text=_("The name recipients see, such as “Example Support”."),
    )
    reply_to = models.EmailField(
        _("reply-to"),
        blank=True,
        validators=[HeaderSafeValidator()],
        help_text=_("Optional: where replies go, if not to the sender."),
    )
    timeout = models.PositiveIntegerField(
        _("timeout (seconds)"),
        default=_default_timeout,
        validators=[MinValueValidator(1), MaxValueValidator(MAX_PROFILE_TIMEOUT)],
        help_text=_("How long to wait for the server at each step before giving up."),
    )
    verify_certificate = models.BooleanField(
        _("verify certificate"),
        default=True,
        help_text=_(
            "Check that the server's TLS certificate is valid and names this server. "
            "Turn off only for a server you control, on a network you trust."
        ),
    )
    allow_plaintext_auth = models.BooleanField(
        _("allow password over an unencrypted connection"),
        default=False,
        help_text=_(
            "Only with SSL/TLS mode “None”: send the user name and password even though "
            "anyone on the network path can read them. Leave off unless the server is on a "
            "network you trust and cannot encrypt."
        ),
    )
    ca_certificate = models.TextField(
        _("custom CA certificate"),
        blank=True,
        validators=[validate_pem_certificates],
        help_text=_(
            "Optional: the PEM certificate of a private certificate authority that signed "
            "this server's certificate, trusted in addition to the system's."
        ),
    )
    # Signing in: none, a password, or OAuth2 (see providers/oauth.py for the endpoints).
    auth_method = models.CharField(
        _("sign-in"),
        max_length=10,
        choices=LoginMethod.choices,
        default=LoginMethod.PASSWORD,
        help_text=_(
            "How this profile logs in to the server: not at all, with the user name and "
            "password, or with OAuth2 (Microsoft 365, Outlook.com and Google prefer it)."
        ),
    )
    oauth_provider = models.CharField(
        _("OAuth2 provider"),
        max_length=10,
        choices=OAuthProvider.choices,
        default=OAuthProvider.MICROSOFT,
    )
    oauth_grant = models.CharField(
        _("OAuth2 sign-in"),
        max_length=20,
        choices=OAuthGrant.choices,
        default=OAuthGrant.REFRESH_TOKEN,
        help_text=_(
            "A connected account (a person signs in once), or app-only access for "
            "Microsoft 365 (tenant id, client id and secret; the user name is the mailbox)."
        ),
    )
    oauth_tenant = models.CharField(
        _("tenant"),
        max_length=100,
        blank=True,
        default="organizations",
        validators=[HeaderSafeValidator()],
        help_text=_(
            "Microsoft only: organizations (Microsoft 365), consumers (Outlook.com), or "
            "your tenant id or domain (needed for app-only access)."
        ),
    )
    oauth_client_id = models.CharField(
        _("client id"), max_length=200, blank=True, validators=[HeaderSafeValidator()]
    )
    oauth_client_secret_encrypted = models.TextField(
        _("encrypted client secret"), blank=True, default="", editable=False
    )
    oauth_refresh_token_encrypted = models.TextField(
        _("encrypted refresh token"), blank=True, default="", editable=False
    )
    oauth_scopes = models.CharField(
        _("scopes"),
        max_length=500,
        blank=True,
        validators=[HeaderSafeValidator()],
        help_text=_("Leave blank for the provider's SMTP scope."),
    )
    oauth_token_endpoint = models.URLField(
        _("token endpoint"),
        blank=True,
        help_text=_("Other providers only: the https:// URL that gives tokens."),
    )
    oauth_authorization_endpoint = models.URLField(
        _("authorization endpoint"),
        blank=True,
        help_text=_("Other providers only: the https:// URL where a person gives consent."),
    )
    oauth_device_authorization_endpoint = models.URLField(
        _("device code endpoint"),
        blank=True,
        help_text=_("Other providers only: the https:// URL that starts a device code sign-in."),
    )
    oauth_account = models.CharField(
        _("connected account"), max_length=254, blank=True, editable=False
    )
    oauth_connected_at = models.DateTimeField(_("connected"), null=True, blank=True, editable=False)
    test_recipient = models.EmailField(
        _("test recipient"),
        blank=True,
        help_text=_("Where test emails go by default."),
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("last updated"), auto_now=True)
    last_test_at = models.DateTimeField(_("last tested"), null=True, blank=True, editable=False)
    last_test_ok = models.BooleanField(_("last test passed"), null=True, editable=False)
    last_test_message = models.TextField(_("last test result"), blank=True, editable=False)
    last_test_report = models.JSONField(
        _("last test report"), null=True, blank=True, editable=False
    )
    #: A keyed digest of the settings the last test ran with (tester.settings_digest):
    #: whether the settings changed since. Blank for a test made before it was kept.
    last_test_settings_digest = models.CharField(
        _("settings of the last test"), max_length=64, blank=True, default="", editable=False
    )

    objects = SMTPProfileQuerySet.as_manager()

    class Meta:
        verbose_name = _("SMTP profile")
        verbose_name_plural = _("SMTP profiles")
        permissions = [("send_test_email", _("Can send test emails and check connections"))]
        ordering = ["-is_default", "priority", "name"]
        constraints = [
            models.UniqueConstraint(
                fields=["is_default"],
                condition=Q(is_default=True),
                name="smtpconfig_single_default_profile",
                violation_error_message=_("Only one profile can be the default."),
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def provider_preset(self) -> Preset | None:
        """The preset of :attr:`provider`, or None for a server of its own."""
        return get_preset(self.provider) if self.provider else None

    def connection_settings(self) -> ConnectionSettings:
        """This profile as the transport takes it.

        Reading the stored password may raise
        :class:`~smtpconfig.exceptions.SecretUnreadable`.
        """
        return ConnectionSettings.from_profile(self)

    # Display helpers.

    @property
    def sender_domain_list(self) -> list[str]:
        """The sender domains, lower case, without duplicates."""
        return split_domains(self.sender_domains)

    @property
    def server(self) -> str:
        """``host:port``, with an IPv6 address in brackets."""
        return format_server(self.host, self.port)

    @property
    def sender(self) -> str:
        """The sender as it appears in a From header: ``Display Name <address>``."""
        return format_sender(self.from_name, self.from_email)
