"""The outbox: each message ``QueuedEmailBackend`` accepted, until it is delivered.

The outbox is the truth; the task queue only wakes a worker. A message is a
row written in the caller's transaction, its content (headers, body,
attachments) encrypted with the app's keys and dropped once the message is
sent: from then on only what the delivery log keeps (who, to whom, the
subject, the Message-ID) remains.
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from .profile import SMTPProfile


class OutboxState(models.TextChoices):
    QUEUED = "queued", _("queued")
    SENDING = "sending", _("sending")
    SENT = "sent", _("sent")
    DEFERRED = "deferred", _("deferred")
    FAILED = "failed", _("failed")
    #: The connection broke after the message's body went out (or a worker died then):
    #: the server may have it. Never retried automatically; a person decides.
    UNKNOWN = "unknown", _("unknown")
    CANCELLED = "cancelled", _("cancelled")


#: States a worker may still send from (a claim moves them to SENDING).
PENDING_STATES = (OutboxState.QUEUED, OutboxState.DEFERRED)
#: States whose content is kept (until OUTBOX_RETENTION) so that a person can send the
#: message again: a message cancelled by mistake can be resent too.
RESENDABLE_STATES = (OutboxState.FAILED, OutboxState.UNKNOWN, OutboxState.CANCELLED)


class OutboxMessage(models.Model):
    """One message waiting for, going through or done with delivery."""

    created_at = models.DateTimeField(_("queued at"), default=timezone.now)
    state = models.CharField(
        _("state"), max_length=10, choices=OutboxState.choices, default=OutboxState.QUEUED
    )
    # What the sender asked for: get_connection(profile=..., failover=...).
    requested_profile = models.CharField(_("requested profile"), max_length=100, blank=True)
    failover = models.BooleanField(_("failover"), null=True, blank=True)
    # The profile that sent it, or that was tried last. Deleting a profile leaves this
    # row as it is (the name stays in profile_name).
    profile = models.ForeignKey(
        SMTPProfile,
        verbose_name=_("profile"),
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="+",
    )
    profile_name = models.CharField(_("profile name"), max_length=100, blank=True)
    sender = models.CharField(_("sender"), max_length=998, blank=True)
    recipients = models.TextField(_("recipients"), blank=True)
    subject = models.CharField(_("subject"), max_length=998, blank=True)
    message_id = models.CharField(_("Message-ID"), max_length=998, blank=True)
    size = models.PositiveIntegerField(_("size (bytes)"), default=0)
    # The pickled EmailMessage, encrypted (Fernet); emptied once the message is sent. A
    # failed, unknown or cancelled one keeps it for OUTBOX_RETENTION (it can be resent).
    content_encrypted = models.TextField(blank=True, editable=False)

    attempts = models.PositiveIntegerField(_("attempts"), default=0)
    next_attempt_at = models.DateTimeField(_("next attempt"), default=timezone.now)
    last_attempt_at = models.DateTimeField(_("last attempt"), null=True, blank=True)
    # The step of the last failure (connect, tls, auth, rcpt, data…) and why, in the
    # diagnosis's words.
    last_step = models.CharField(_("failed at step"), max_length=20, blank=True)
    last_error = models.TextField(_("last error"), blank=True)
    sent_at = models.DateTimeField(_("sent at"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)

    # A worker's claim: who holds it, until when, and whether the message itself has
    # started to go out under it (a claim that expires after that ends in UNKNOWN).
    claim = models.CharField(max_length=64, blank=True, editable=False)
    leased_until = models.DateTimeField(null=True, blank=True, editable=False)
    started_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        verbose_name = _("outbox message")
        verbose_name_plural = _("outbox")
        ordering = ["-created_at", "-id"]
        permissions = [("resend_message", _("Can resend failed and unknown outbox messages"))]
        indexes = [
            # What a worker claims: pending messages by due time.
            models.Index(
                fields=["next_attempt_at", "created_at"],
                condition=Q(state__in=["queued", "deferred", "sending"]),
                name="smtpconfig_outbox_due",
            ),
            models.Index(fields=["state", "created_at"], name="smtpconfig_outbox_state"),
            models.Index(fields=["claim"], name="smtpconfig_outbox_claim"),
        ]

    def __str__(self) -> str:
        return f"{self.get_state_display()}: {self.subject}"

    @property
    def has_content(self) -> bool:
        """Whether the message itself is still kept (so it can be sent or resent)."""
        return bool(self.content_encrypted)
