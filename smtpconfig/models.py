"""The SMTP profile: one outgoing-mail server and how to send through it."""

from __future__ import annotations

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import IntegrityError, models, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from . import crypto, secret_binding
from .conf import get_setting
from .exceptions import SecretUnreadable
from .signals import profiles_updated
from .transport.settings import (  # noqa: F401 (Security and the formatters: public here too)
    STANDARD_PORTS,
    ConnectionSettings,
    Security,
    format_sender,
    format_server,
)
from .validators import (
    HeaderSafeValidator,
    split_domains,
    validate_domain_list,
    validate_pem_certificates,
    validate_smtp_host,
)

# How often save() retries after losing a race for the default mark.
_DEFAULT_SAVE_ATTEMPTS = 5


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


class SMTPProfile(models.Model):
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
        validators=[MinValueValidator(1), MaxValueValidator(300)],
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

    def save(self, *args, **kwargs) -> None:
        """Save; making this profile the default takes the mark off any other.

        Two requests making two profiles the default at the same moment are
        serialised by row locks on the profiles; should one still hit the
        database's single-default constraint (a default profile inserted at
        that moment), it tries again, its demotion now seeing the winner.
        Either way the last one saved is the default.
        """
        self._seal_new_password()
        using = kwargs.get("using") or self._state.db or "default"
        for attempt in range(_DEFAULT_SAVE_ATTEMPTS):
            try:
                with transaction.atomic(using=using):
                    if self.is_default:
                        manager = type(self)._default_manager.using(using)
                        # Every profile's row lock, taken in one order (so no deadlock):
                        # a concurrent "make default" waits here instead of colliding.
                        list(manager.select_for_update().order_by("pk").values_list("pk"))
                        demoted = manager.filter(is_default=True)
                        if self.pk is not None:
                            demoted = demoted.exclude(pk=self.pk)
                        demoted.update(is_default=False, updated_at=timezone.now())
                    super().save(*args, **kwargs)
                return
            except IntegrityError:
                if not self.is_default or attempt == _DEFAULT_SAVE_ATTEMPTS - 1:
                    raise
                if kwargs.get("force_insert"):
                    raise
                # A default profile inserted meanwhile won the race; it is committed now.

    def validate_constraints(self, exclude=None) -> None:
        # Making a profile the default takes the mark off the others in save(),
        # so ticking "default" on a second profile is not a validation error;
        # the database constraint still guarantees a single default.
        super().validate_constraints(exclude=set(exclude or ()) | {"is_default"})

    # The password: plain text in, plain text out, ciphertext at rest, sealed to the server.

    @property
    def password(self) -> str:
        """The plain-text password ('' when none is stored).

        The password is sealed to the server it was entered for (see
        :mod:`smtpconfig.secret_binding`): it is only returned while host,
        port, mode, plaintext permission and certificate settings are still
        the ones it was saved with. Raises
        :class:`~smtpconfig.exceptions.SecretUnreadable` (or its subclass
        ``SecretBoundElsewhere``) otherwise, or when the configured keys
        cannot decrypt it.
        """
        if not self.password_encrypted:
            return ""
        unsaved = self.__dict__.get("_unsaved_password")
        if unsaved is not None:
            return unsaved
        return secret_binding.unseal(self.password_encrypted, self.secret_destination())

    @password.setter
    def password(self, value: str | None) -> None:
        if value:
            self.password_encrypted = secret_binding.seal(value, self.secret_destination())
            # Sealed again in save(), for the server the profile has by then.
            self._unsaved_password = value
        else:
            self.password_encrypted = ""
            self.__dict__.pop("_unsaved_password", None)

    def _seal_new_password(self) -> None:
        unsaved = self.__dict__.pop("_unsaved_password", None)
        if unsaved and self.password_encrypted:
            self.password_encrypted = secret_binding.seal(unsaved, self.secret_destination())

    def secret_destination(self) -> str:
        """The digest of the server settings a stored secret is sealed to."""
        return secret_binding.destination_of_object(self)

    @property
    def has_password(self) -> bool:
        """Whether a password is stored (readable or not)."""
        return bool(self.password_encrypted)

    @property
    def password_unreadable(self) -> bool:
        """Whether a password is stored that the configured keys cannot decrypt."""
        return self.has_password and not crypto.can_decrypt(self.password_encrypted)

    @property
    def password_bound_elsewhere(self) -> bool:
        """Whether the stored password opens but was entered for other server settings."""
        return (
            self.has_password
            and not self.password_unreadable
            and not secret_binding.is_sealed_for(self.password_encrypted, self.secret_destination())
        )

    def readable_password(self) -> str:
        """The password, or raise :class:`SecretUnreadable` with an admin-facing message."""
        try:
            return self.password
        except secret_binding.SecretBoundElsewhere as exc:
            raise secret_binding.SecretBoundElsewhere(
                _("SMTP profile “%(name)s”: %(reason)s") % {"name": self.name, "reason": exc}
            ) from None
        except SecretUnreadable:
            raise SecretUnreadable(
                _(
                    "The stored password of SMTP profile “%(name)s” cannot be decrypted with "
                    "the configured encryption keys (the key was changed or lost). Open the "
                    "profile in the admin and type the password again."
                )
                % {"name": self.name}
            ) from None

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


class ProfilesVersion(models.Model):
    """One row whose value changes whenever any SMTP profile changes, however it changes.

    Database triggers (migration 0007, on SQLite and PostgreSQL) write a new
    random value on every insert, update, delete or truncate of the profiles
    table: a change made with ``save()``, ``QuerySet.update()``, another
    process or raw SQL alike. Each process compares it, once per connection
    it opens, with the value its snapshot of the profiles was read at.
    """

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    value = models.BigIntegerField(default=0)

    class Meta:
        verbose_name = _("profiles version")
        default_permissions = ()

    def __str__(self) -> str:
        return str(self.value)


class DeliveryOutcome(models.TextChoices):
    SENT = "sent", _("sent")
    FAILED_OVER = "failed_over", _("sent after failover")
    FAILED = "failed", _("failed")


class DeliveryLog(models.Model):
    """One message the backend sent or could not send: who, to whom, through what, and how."""

    created_at = models.DateTimeField(_("time"), default=timezone.now, db_index=True)
    profile = models.ForeignKey(
        SMTPProfile,
        verbose_name=_("profile"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="deliveries",
    )
    profile_name = models.CharField(_("profile name"), max_length=100, blank=True)
    tried = models.JSONField(
        _("profiles that failed first"),
        default=list,
        blank=True,
        help_text=_("Each profile tried before the one used, with why it failed."),
    )
    sender = models.CharField(_("sender"), max_length=998, blank=True)
    recipients = models.TextField(_("recipients"), blank=True)
    subject = models.CharField(_("subject"), max_length=998, blank=True)
    message_id = models.CharField(_("Message-ID"), max_length=998, blank=True)
    outcome = models.CharField(
        _("outcome"), max_length=12, choices=DeliveryOutcome.choices, db_index=True
    )
    reply = models.TextField(_("server reply or reason"), blank=True)
    duration = models.FloatField(_("duration (seconds)"), default=0.0)

    class Meta:
        verbose_name = _("delivery")
        verbose_name_plural = _("delivery log")
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.get_outcome_display()}: {self.subject}"
