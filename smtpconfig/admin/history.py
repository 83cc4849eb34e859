"""What the admin history records about profiles: changes, the default, tests, detections."""

from __future__ import annotations

import logging

from django.contrib import admin, messages
from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.contenttypes.models import ContentType
from django.db import DatabaseError, transaction
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from ..models import SMTPProfile, UnsavedSMTPProfile

logger = logging.getLogger("smtpconfig")

# Form fields that are not columns, or whose value must never reach the history.
_NOT_LISTED = {"preset", "preset_region", "password", "clear_password", "oauth_client_secret"}


class ProfileHistory:
    """Mixed into the profile admin: history entries and the "make default" action."""

    @admin.action(
        description=gettext_lazy("Make the selected profile the default"),
        permissions=["change"],
    )
    def make_default(self, request, queryset):
        if queryset.count() != 1:
            self.message_user(
                request, _("Select exactly one profile to make it the default."), messages.ERROR
            )
            return
        profile = queryset.get()
        if profile.is_default:
            self.message_user(
                request, _("“%(name)s” is already the default profile.") % {"name": profile.name}
            )
            return
        previous = self.other_defaults(profile)
        profile.is_default = True
        profile.save(update_fields=["is_default", "updated_at"])
        # In words of its own: "Changed default." read as if nothing had been done.
        self.log_change(request, profile, _("Made the default profile."))
        self.log_demoted(request, previous, profile)
        self.message_user(
            request, _("“%(name)s” is now the default profile.") % {"name": profile.name}
        )
        self.warn_untested(request, profile)

    def other_defaults(self, profile: SMTPProfile) -> list[SMTPProfile]:
        """The profiles that lose the default mark when ``profile`` takes it."""
        others = SMTPProfile.objects.filter(is_default=True)
        return list(others.exclude(pk=profile.pk) if profile.pk else others)

    def log_demoted(self, request, demoted: list[SMTPProfile], new_default: SMTPProfile) -> None:
        """Put "no longer the default" in the history of each profile that lost the mark."""
        for profile in demoted:
            self.log_change(
                request,
                profile,
                _("No longer the default: “%(name)s” is the default now.")
                % {"name": new_default.name},
            )

    def construct_change_message(self, request, form, formsets, add=False):
        """The history entry: changed fields by label, the password only as "changed"."""
        if add:
            return [{"added": {}}]
        fields = [
            str(form.fields[name].label or name)
            for name in form.changed_data
            if name not in _NOT_LISTED and name in form.fields
        ]
        if form.cleaned_data.get("password"):
            fields.append(str(_("password changed")))
        if form.cleaned_data.get("clear_password"):
            fields.append(str(_("password cleared")))
        if form.cleaned_data.get("oauth_client_secret"):
            fields.append(str(_("client secret changed")))
        return [{"changed": {"fields": fields}}] if fields else []

    def log_action(self, request, obj, form, message: str) -> bool:
        """A history entry for a profile, or for the unsaved one in the form.

        Returns False if the database refused it (read-only, locked): the
        caller still shows what happened, and says it was not recorded.
        """
        try:
            with transaction.atomic():
                if obj is not None:
                    self.log_change(request, obj, message)
                else:
                    cleaned = getattr(form, "cleaned_data", None) or {}
                    name = cleaned.get("name") or form.data.get(form.add_prefix("name"), "")
                    LogEntry.objects.create(
                        user_id=request.user.pk,
                        # "(not saved)" is the content type's name, shown in the reader's
                        # language; the object name is only what was typed.
                        content_type_id=ContentType.objects.get_for_model(
                            UnsavedSMTPProfile, for_concrete_model=False
                        ).pk,
                        object_id=None,
                        object_repr=str(name)[:200],
                        action_flag=CHANGE,
                        change_message=message,
                    )
        except DatabaseError as exc:
            logger.warning("smtpconfig: an admin history entry could not be written: %s", exc)
            return False
        return True
