"""The outbox list's actions: "Send now", "Cancel" and "Resend".

Each moves a message with a conditional UPDATE that names the states it may
move from, so a worker that claims the message at the same moment wins
cleanly: a message a worker holds (``sending``) is neither cancelled nor sent
a second time. Each message moved is recorded in the admin history.
"""

from __future__ import annotations

from functools import partial

from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.db import router, transaction
from django.template.response import TemplateResponse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from ..models import OutboxState
from ..models.outbox import PENDING_STATES, RESENDABLE_STATES
from ..outbox.tasks import wake

# What a resent message starts from: due now, as if just queued, with its attempts (and
# their delivery log rows) kept as its history.
_FRESH = {
    "state": OutboxState.QUEUED,
    "last_step": "",
    "last_error": "",
    "finished_at": None,
    "claim": "",
    "leased_until": None,
    "started_at": None,
}


class OutboxActions:
    """Mixed into the outbox admin: the actions and their permissions."""

    actions = ["send_now", "cancel", "resend"]

    def has_manage_permission(self, request) -> bool:
        """ "Send now" and "Cancel": for users who may change outbox messages."""
        return request.user.has_perm(f"{self.opts.app_label}.change_outboxmessage")

    def has_resend_permission(self, request) -> bool:
        """ "Resend" has its own permission: it can deliver a message a second time."""
        return request.user.has_perm(f"{self.opts.app_label}.resend_message")

    @admin.action(
        description=gettext_lazy("Send the selected messages now"), permissions=["manage"]
    )
    def send_now(self, request, queryset):
        now = timezone.now()
        selected, moved = self._move(
            request,
            queryset,
            from_states=PENDING_STATES,
            fields={"state": OutboxState.QUEUED, "next_attempt_at": now},
            history=_("“Send now”: made due at once."),
        )
        if moved:
            self.message_user(
                request,
                ngettext(
                    "%(count)d message is due now: a worker has been asked to send it.",
                    "%(count)d messages are due now: a worker has been asked to send them.",
                    len(moved),
                )
                % {"count": len(moved)},
                messages.SUCCESS,
            )
        self._skipped(
            request,
            len(selected) - len(moved),
            ngettext(
                "%(count)d message was left as it was: only queued or deferred messages can "
                "be sent now (one being sent is on its way; a failed, unknown or cancelled "
                "one needs “Resend”).",
                "%(count)d messages were left as they were: only queued or deferred messages "
                "can be sent now (one being sent is on its way; a failed, unknown or cancelled "
                "one needs “Resend”).",
                len(selected) - len(moved),
            ),
        )

    @admin.action(description=gettext_lazy("Cancel the selected messages"), permissions=["manage"])
    def cancel(self, request, queryset):
        selected, moved = self._move(
            request,
            queryset,
            from_states=PENDING_STATES,
            fields={"state": OutboxState.CANCELLED, "finished_at": timezone.now()},
            history=_("Cancelled."),
            wake_worker=False,
        )
        if moved:
            self.message_user(
                request,
                ngettext(
                    "%(count)d message cancelled: it will not be sent (it can be resent "
                    "until the retention period ends).",
                    "%(count)d messages cancelled: they will not be sent (they can be resent "
                    "until the retention period ends).",
                    len(moved),
                )
                % {"count": len(moved)},
                messages.SUCCESS,
            )
        self._skipped(
            request,
            len(selected) - len(moved),
            ngettext(
                "%(count)d message was not cancelled: only queued or deferred messages can "
                "be (one a worker is sending cannot be stopped).",
                "%(count)d messages were not cancelled: only queued or deferred messages can "
                "be (one a worker is sending cannot be stopped).",
                len(selected) - len(moved),
            ),
        )

    @admin.action(
        description=gettext_lazy("Resend the selected failed, unknown or cancelled messages"),
        permissions=["resend"],
    )
    def resend(self, request, queryset):
        if not request.POST.get("post"):
            return self._resend_confirmation(request, queryset)
        selected, moved = self._move(
            request,
            queryset,
            from_states=RESENDABLE_STATES,
            fields={**_FRESH, "next_attempt_at": timezone.now()},
            history=_("Resent."),
            content_kept=True,
        )
        if moved:
            self.message_user(
                request,
                ngettext(
                    "%(count)d message queued to be sent again.",
                    "%(count)d messages queued to be sent again.",
                    len(moved),
                )
                % {"count": len(moved)},
                messages.SUCCESS,
            )
        self._skipped(
            request,
            len(selected) - len(moved),
            _resend_skipped(len(selected) - len(moved)),
        )
        return None

    def _resend_confirmation(self, request, queryset):
        """The page that asks before resending, warning of messages that may arrive twice."""
        rows = list(queryset.order_by("created_at", "pk"))
        resendable = [row for row in rows if row.state in RESENDABLE_STATES and row.content_kept]
        unknown = [row for row in resendable if row.state == OutboxState.UNKNOWN]
        request.current_app = self.admin_site.name
        return TemplateResponse(
            request,
            "admin/smtpconfig/outboxmessage/resend_confirmation.html",
            {
                **self.admin_site.each_context(request),
                "title": _("Resend messages"),
                "subtitle": None,
                "opts": self.opts,
                "rows": rows,
                "resendable": resendable,
                "unknown": unknown,
                "skipped": len(rows) - len(resendable),
                "skipped_text": _resend_skipped(len(rows) - len(resendable))
                % {"count": len(rows) - len(resendable)},
                "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
                "media": self.media,
            },
        )

    def _move(
        self,
        request,
        queryset,
        *,
        from_states,
        fields: dict,
        history: str,
        content_kept: bool = False,
        wake_worker: bool = True,
    ) -> tuple[list, list]:
        """Move each selected message that is still in one of ``from_states``; return the
        selected messages and those moved. One conditional UPDATE per message (a selection
        is a page), so that the history names exactly the messages that moved."""
        database = router.db_for_write(self.model)
        selected = list(queryset.order_by())
        moved = []
        with transaction.atomic(using=database):
            for row in selected:
                rows = self.model.objects.using(database).filter(pk=row.pk, state__in=from_states)
                if content_kept:
                    rows = rows.exclude(content_encrypted="")
                if rows.update(**fields):
                    moved.append(row)
                    self.log_change(request, row, history)
            if moved and wake_worker:
                transaction.on_commit(
                    partial(wake, [row.pk for row in moved]), using=database, robust=True
                )
        return selected, moved

    def _skipped(self, request, count: int, text: str) -> None:
        """Say how many selected messages were left alone, and why (``text``, counted)."""
        if count:
            self.message_user(request, text % {"count": count}, messages.WARNING)


def _resend_skipped(count: int) -> str:
    return ngettext(
        "%(count)d message will not be resent: only failed, unknown or cancelled messages "
        "whose content is still kept can be (it is dropped once a message is sent, and "
        "after the retention period).",
        "%(count)d messages will not be resent: only failed, unknown or cancelled messages "
        "whose content is still kept can be (it is dropped once a message is sent, and "
        "after the retention period).",
        count,
    )
