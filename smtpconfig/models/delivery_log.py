"""The delivery log: one row for each message the backend sent or could not send."""

from __future__ import annotations

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from .profile import SMTPProfile


class DeliveryOutcome(models.TextChoices):
    SENT = "sent", _("sent")
    FAILED_OVER = "failed_over", _("sent after failover")
    FAILED = "failed", _("failed")
    #: A temporary failure of a queued message: it is tried again later.
    DEFERRED = "deferred", _("deferred")
    #: The connection broke after the body went out: the server may have the message.
    UNKNOWN = "unknown", _("unknown")


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
        verbose_name = _("delivery log entry")
        verbose_name_plural = _("delivery log entries")
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.get_outcome_display()}: {self.subject}"
