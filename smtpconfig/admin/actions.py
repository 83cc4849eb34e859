"""The list's actions that switch profiles on and off (OT Box's users do it from the list)."""

from __future__ import annotations

from django.contrib import admin, messages
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext


class ProfileActions:
    """Mixed into the profile admin: "Enable" and "Disable" for the selected profiles."""

    @admin.action(description=gettext_lazy("Enable the selected profiles"), permissions=["change"])
    def enable(self, request, queryset):
        self._switch(request, queryset, enabled=True)

    @admin.action(description=gettext_lazy("Disable the selected profiles"), permissions=["change"])
    def disable(self, request, queryset):
        self._switch(request, queryset, enabled=False)

    def _switch(self, request, queryset, *, enabled: bool) -> None:
        # One save per profile (not QuerySet.update()): the history records each change,
        # and the post_save receivers tell every process's backend at once.
        changed = [profile for profile in queryset if profile.enabled != enabled]
        for profile in changed:
            profile.enabled = enabled
            profile.save(update_fields=["enabled", "updated_at"])
            self.log_change(request, profile, [{"changed": {"fields": [_("enabled")]}}])
        if enabled:
            text = ngettext(
                "%(count)d profile enabled.", "%(count)d profiles enabled.", len(changed)
            )
        else:
            text = ngettext(
                "%(count)d profile disabled.", "%(count)d profiles disabled.", len(changed)
            )
        self.message_user(request, text % {"count": len(changed)}, messages.SUCCESS)
        if enabled:
            # One rule for "not known to work" (never passed, failed, or changed since):
            # the same warning as making it the default or saving it enabled.
            for profile in changed:
                self.warn_untested(request, profile)
