"""The list's filters that are not plain fields: the last test's result, the provider."""

from __future__ import annotations

from django.contrib import admin
from django.core.exceptions import FieldDoesNotExist
from django.utils.translation import gettext_lazy as _

from ..models import SMTPProfile
from ..providers.presets import PRESETS, get_preset, preset_for_host


class LastTestFilter(admin.SimpleListFilter):
    """Profiles whose last test passed, failed, or that were never tested."""

    title = _("last test")
    parameter_name = "last_test"

    def lookups(self, request, model_admin):
        return [("passed", _("passed")), ("failed", _("failed")), ("never", _("never"))]

    def queryset(self, request, queryset):
        if self.value() == "passed":
            return queryset.filter(last_test_ok=True)
        if self.value() == "failed":
            return queryset.filter(last_test_ok=False)
        if self.value() == "never":
            return queryset.filter(last_test_at__isnull=True)
        return queryset


def _has_provider_field() -> bool:
    try:
        SMTPProfile._meta.get_field("provider")
    except FieldDoesNotExist:
        return False
    return True


def provider_key(profile: SMTPProfile) -> str:
    """The preset a profile was made from, or else the one its host belongs to ("" if none)."""
    stored = getattr(profile, "provider", "") if _has_provider_field() else ""
    preset = get_preset(stored) if stored else preset_for_host(profile.host)
    return preset.key if preset and preset.key != "other" else ""


class ProviderFilter(admin.SimpleListFilter):
    """Profiles by provider: the stored preset key where there is one, else the host's."""

    title = _("provider")
    parameter_name = "provider"

    def lookups(self, request, model_admin):
        # Only the providers the profiles use: sixteen presets would bury the two in use.
        used = {provider_key(p) for p in model_admin.get_queryset(request)}
        choices = [(p.key, p.label) for p in PRESETS if p.key in used]
        if "" in used:
            choices.append(("other", _("Other")))
        return choices

    def queryset(self, request, queryset):
        wanted = self.value()
        if not wanted:
            return queryset
        if wanted == "other":
            wanted = ""
        # A handful of profiles: matching the hosts in Python costs nothing and also
        # works before the provider field exists.
        pks = [p.pk for p in queryset if provider_key(p) == wanted]
        return queryset.filter(pk__in=pks)
