"""The delivery log: one row for each message the backend sent or could not send."""

from __future__ import annotations

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from .log_search import SEARCHED_FIELDS, DeliveryLogQuerySet, ILike
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

    created_at = models.DateTimeField(_("time"), default=timezone.now)
    # A deleted profile's rows are left as they are and keep its name (setting a million
    # rows' profile to NULL took 8 s), so the id may name no profile: readers use
    # ``profile_name`` and link only to a profile that exists. Ids are never handed out
    # again (PostgreSQL's sequence, SQLite's AUTOINCREMENT), so it never names another.
    profile = models.ForeignKey(
        SMTPProfile,
        verbose_name=_("profile"),
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        db_index=False,  # the (profile, created_at) index below serves it
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
    outcome = models.CharField(_("outcome"), max_length=12, choices=DeliveryOutcome.choices)
    reply = models.TextField(_("server reply or reason"), blank=True)
    duration = models.FloatField(_("duration (seconds)"), default=0.0)

    objects = DeliveryLogQuerySet.as_manager()

    class Meta:
        verbose_name = _("delivery log entry")
        verbose_name_plural = _("delivery log entries")
        ordering = ["-created_at", "-id"]
        # Each index serves queries that run (admin/health.py, the admin, pruning): the
        # list's order, pruning and the latest rows (time, id); the profile filter and
        # each profile's recent deliveries (profile, time); the outcome filter and the
        # recent failures (outcome, time). Searching (log_search.py) uses indexes that
        # only PostgreSQL has, made by migration 0017.
        # No index on outcome alone: as a CharField's db_index it also made a LIKE
        # (varchar_pattern_ops) index on PostgreSQL that no query used.
        indexes = [
            models.Index(fields=["created_at", "id"], name="smtpconfig_log_time_idx"),
            models.Index(fields=["profile", "created_at"], name="smtpconfig_log_profile_idx"),
            models.Index(fields=["outcome", "created_at"], name="smtpconfig_log_outcome_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.get_outcome_display()}: {self.subject}"


for _name in SEARCHED_FIELDS:
    DeliveryLog._meta.get_field(_name).register_lookup(ILike)
