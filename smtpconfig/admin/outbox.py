"""The outbox in the admin: each queued message's state, attempts and last error.

Read-only: a message changes only through its actions (``outbox_actions``).
Nothing of a message's content (its body, which may hold a password-reset
link, or its attachments) is ever read for these pages: the list and the
page defer the encrypted column and show only what the delivery log also
keeps (sender, recipients, subject, Message-ID).
"""

from __future__ import annotations

from django.contrib import admin
from django.db.models import BooleanField, ExpressionWrapper, Q
from django.urls import NoReverseMatch, reverse
from django.utils.html import format_html, format_html_join
from django.utils.text import Truncator
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from ..models import DeliveryLog, OutboxMessage, OutboxState
from ..models.outbox import PENDING_STATES
from ..probe import STEP_LABELS
from .delivery_log import format_time
from .outbox_actions import OutboxActions
from .queue_status import FAILED_OR_UNKNOWN, WAITING, worker_banner
from .read_only import ReadOnlyAdminMixin

#: The most delivery log rows a message's page lists (a message is tried at most
#: OUTBOX_MAX_ATTEMPTS times, 20 by default).
_LOG_ROWS = 50


class OutboxStateFilter(admin.SimpleListFilter):
    """Each state, and the two groups the index and the profile list link to."""

    title = gettext_lazy("state")
    parameter_name = "state"

    def lookups(self, request, model_admin):
        return [
            (WAITING, _("waiting (queued or sending)")),
            (FAILED_OR_UNKNOWN, _("failed or unknown")),
            *OutboxState.choices,
        ]

    def queryset(self, request, queryset):
        value = self.value()
        if value == WAITING:
            return queryset.filter(state__in=[OutboxState.QUEUED, OutboxState.SENDING])
        if value == FAILED_OR_UNKNOWN:
            return queryset.filter(state__in=[OutboxState.FAILED, OutboxState.UNKNOWN])
        if value in OutboxState.values:
            return queryset.filter(state=value)
        return queryset


@admin.register(OutboxMessage)
class OutboxMessageAdmin(ReadOnlyAdminMixin, OutboxActions, admin.ModelAdmin):
    """The outbox: read-only, with "Send now", "Cancel" and "Resend"."""

    list_display = [
        "state_column",
        "queued_column",
        "profile_column",
        "sender",
        "recipients",
        "subject",
        "attempts",
        "next_attempt_column",
        "last_error_column",
    ]
    list_filter = [OutboxStateFilter, ("profile", admin.RelatedFieldListFilter)]
    search_fields = ["recipients", "subject", "message_id"]
    # A busy site's outbox holds a week of sent messages: no COUNT(*) of it all per page.
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER  # a count per filter choice is as costly
    list_per_page = 50
    # Newest first by key, which follows the time queued: the primary key's index serves
    # it, where the model's "-created_at" sorts the whole table (0.37 s for 100,000 rows).
    ordering = ["-pk"]
    readonly_fields = [
        "state_column",
        "unknown_explanation",
        "queued_column",
        "profile_column",
        "requested_column",
        "sender",
        "recipients",
        "subject",
        "message_id",
        "size",
        "attempts",
        "last_attempt_column",
        "next_attempt_column",
        "sent_column",
        "finished_column",
        "last_error_details",
        "content_column",
        "deliveries_column",
    ]
    fields = readonly_fields

    class Media:
        css = {"all": ["smtpconfig/admin.css"]}

    def get_queryset(self, request):
        # The content is never read here; whether it is still kept is all the page needs.
        return (
            super()
            .get_queryset(request)
            .select_related("profile")
            .defer("content_encrypted")
            .annotate(
                content_kept=ExpressionWrapper(
                    ~Q(content_encrypted=""), output_field=BooleanField()
                )
            )
        )

    def changelist_view(self, request, extra_context=None):
        if request.method == "GET":
            stale = worker_banner(request, self.admin_site.name)
            if stale is not None:
                self.message_user(request, stale[1], stale[0])
        return super().changelist_view(request, extra_context)

    def get_fields(self, request, obj=None):
        fields = list(super().get_fields(request, obj))
        if obj is None or obj.state != OutboxState.UNKNOWN:
            fields.remove("unknown_explanation")
        return fields

    # The columns. (Read-only, ReadOnlyAdminMixin: a message is stopped with "Cancel", and
    # rows go by OUTBOX_RETENTION, so that the outbox keeps a record of each.)

    @admin.display(description=gettext_lazy("state"), ordering="state")
    def state_column(self, message: OutboxMessage) -> str:
        return format_html(
            '<span class="smtpconfig-state smtpconfig-state-{}">{}</span>',
            message.state,
            message.get_state_display(),
        )

    @admin.display(description=gettext_lazy("queued at"), ordering="created_at")
    def queued_column(self, message: OutboxMessage) -> str:
        return format_time(message.created_at)

    @admin.display(description=gettext_lazy("profile"), ordering="profile_name")
    def profile_column(self, message: OutboxMessage) -> str:
        """The profile tried last, by the name it had then; linked while it still exists."""
        name = message.profile_name or (message.profile.name if message.profile else "")
        if not name:
            return "—"
        if message.profile is None:  # deleted since, or never tried yet
            return name
        try:
            url = reverse(
                f"{self.admin_site.name}:smtpconfig_smtpprofile_change", args=[message.profile_id]
            )
        except NoReverseMatch:
            return name
        return format_html('<a href="{}">{}</a>', url, name)

    @admin.display(description=gettext_lazy("sent through"))
    def requested_column(self, message: OutboxMessage) -> str:
        # As delivery.targets.choose_chain reads them.
        if message.requested_profile:
            if message.failover:
                text = _("the profile “%(name)s”, then the others in order")
            else:
                text = _("the profile “%(name)s” only")
            return text % {"name": message.requested_profile}
        if message.failover is False:
            return _("the default profile only")
        return _("the default profile, then the others in order")

    @admin.display(description=gettext_lazy("next attempt"), ordering="next_attempt_at")
    def next_attempt_column(self, message: OutboxMessage) -> str:
        if message.state not in PENDING_STATES:
            return "—"
        return format_time(message.next_attempt_at)

    @admin.display(description=gettext_lazy("last attempt"), ordering="last_attempt_at")
    def last_attempt_column(self, message: OutboxMessage) -> str:
        return format_time(message.last_attempt_at) if message.last_attempt_at else "—"

    @admin.display(description=gettext_lazy("sent at"), ordering="sent_at")
    def sent_column(self, message: OutboxMessage) -> str:
        return format_time(message.sent_at) if message.sent_at else "—"

    @admin.display(description=gettext_lazy("finished at"), ordering="finished_at")
    def finished_column(self, message: OutboxMessage) -> str:
        return format_time(message.finished_at) if message.finished_at else "—"

    @admin.display(description=gettext_lazy("last error"))
    def last_error_column(self, message: OutboxMessage) -> str:
        """The last failure in the diagnosis's words, shortened; whole in its title."""
        if not message.last_error:
            return "—"
        return format_html(
            '<span class="smtpconfig-last-error" title="{}">{}</span>',
            message.last_error,
            Truncator(_error_text(message)).chars(160),
        )

    @admin.display(description=gettext_lazy("last error"))
    def last_error_details(self, message: OutboxMessage) -> str:
        return _error_text(message) or "—"

    @admin.display(description=gettext_lazy("what this means"))
    def unknown_explanation(self, message: OutboxMessage) -> str:
        return _(
            "The connection to the mail server broke after the message's body had gone "
            "out, so the server may have accepted it. It is never sent again by itself. "
            "Ask a recipient whether it arrived; if it did not, “Resend” sends it again "
            "(a recipient who did get it gets it twice)."
        )

    @admin.display(description=gettext_lazy("content"))
    def content_column(self, message: OutboxMessage) -> str:
        """Whether the message itself is still kept; never the message."""
        if message.content_kept:
            if message.state in PENDING_STATES or message.state == OutboxState.SENDING:
                return _("Kept (encrypted) until it is sent.")
            return _("Kept (encrypted) until the retention period ends: it can be resent.")
        return _("Not kept: only what is shown here remains.")

    @admin.display(description=gettext_lazy("attempts in the delivery log"))
    def deliveries_column(self, message: OutboxMessage) -> str:
        """The delivery log's rows for this message (matched by its Message-ID)."""
        if not message.message_id:
            return "—"
        rows = list(
            DeliveryLog.objects.filter(message_id=message.message_id).order_by("created_at", "id")[
                :_LOG_ROWS
            ]
        )
        if not rows:
            return _("None yet.")
        return format_html(
            '<ul class="smtpconfig-attempts">{}</ul>',
            format_html_join(
                "",
                '<li><a href="{}">{}</a>: {} ({}) {}</li>',
                (
                    (
                        self._log_url(row),
                        format_time(row.created_at),
                        row.get_outcome_display(),
                        row.profile_name or "—",
                        row.reply,
                    )
                    for row in rows
                ),
            ),
        )

    def _log_url(self, row: DeliveryLog) -> str:
        try:
            return reverse(f"{self.admin_site.name}:smtpconfig_deliverylog_change", args=[row.pk])
        except NoReverseMatch:
            return ""


def _error_text(message: OutboxMessage) -> str:
    """The last error, with the step it happened at when it is known."""
    if not message.last_error:
        return ""
    label = STEP_LABELS.get(message.last_step)
    if label is None:
        return message.last_error
    return _("at “%(step)s”: %(error)s") % {"step": label, "error": message.last_error}
