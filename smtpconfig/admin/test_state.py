"""Whether a profile's settings are tested: tests made before saving, and the warnings.

A test on the add page (or of unsaved values on a change page) is kept in the
session, by the digest of the settings it tested, until the save it applies
to: a profile saved with exactly those settings keeps that test's result and
report. A profile that becomes the default or is enabled without a passing
test of its current settings, or that is saved after a failed test, gets a
warning with a link to test it; nothing is refused.
"""

from __future__ import annotations

from django.contrib import messages
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.html import format_html
from django.utils.translation import gettext as _

from ..models import SMTPProfile
from ..tester import profile_settings_digest, store_outcome

_SESSION_KEY = "_smtpconfig_tested"
#: Tests kept per form (another tab, a test of other values, then back).
_KEPT_PER_FORM = 3


def form_key(object_id=None) -> str:
    """The session's name for the add page or a profile's page."""
    return "add" if object_id is None else str(object_id)


def untested_reason(profile: SMTPProfile) -> str:
    """Why ``profile`` is not known to work: '' when its last test passed with its current
    settings (or was made before the settings of a test were kept)."""
    if profile.last_test_at is None:
        return _("“%(name)s” has never been tested.") % {"name": profile.name}
    if profile.last_test_ok is False:
        return _("The last test of “%(name)s” failed.") % {"name": profile.name}
    tested = profile.last_test_settings_digest
    if tested and tested != profile_settings_digest(profile):
        return _("The settings of “%(name)s” changed since its last passing test.") % {
            "name": profile.name
        }
    return ""


class TestedSettings:
    """Mixed into the profile admin: keeps tests made before saving, and warns."""

    def keep_test(self, request, object_id, outcome: dict) -> None:
        """Remember a test of the form's values until the save it may apply to."""
        kept = request.session.get(_SESSION_KEY, {})
        entry = {**outcome, "last_test_at": outcome["last_test_at"].isoformat()}
        tests = [
            t
            for t in kept.get(form_key(object_id), [])
            if t["digest"] != outcome.get("last_test_settings_digest")
        ]
        tests.append({"digest": outcome["last_test_settings_digest"], "outcome": entry})
        kept[form_key(object_id)] = tests[-_KEPT_PER_FORM:]
        request.session[_SESSION_KEY] = kept

    def apply_kept_test(self, request, profile: SMTPProfile, *, added: bool) -> None:
        """A profile saved with the settings a test in this session tested keeps its result."""
        kept = request.session.get(_SESSION_KEY, {})
        key = form_key(None if added else profile.pk)
        tests = kept.get(key)
        if not tests:
            return
        digest = profile_settings_digest(profile)
        match = next((t for t in reversed(tests) if digest and t["digest"] == digest), None)
        if match is None:
            return
        outcome = {**match["outcome"]}
        outcome["last_test_at"] = parse_datetime(outcome["last_test_at"]) or timezone.now()
        newer = profile.last_test_at is None or outcome["last_test_at"] > profile.last_test_at
        if newer or profile.last_test_settings_digest != digest:
            store_outcome(profile, outcome)
        kept[key] = [t for t in tests if t is not match]
        request.session[_SESSION_KEY] = kept

    def warn_untested(self, request, profile: SMTPProfile) -> None:
        """A warning that ``profile`` is not known to work, with a link to its test panel;
        nothing when its last test passed with its current settings."""
        reason = untested_reason(profile)
        if not reason:
            return
        self.message_user(
            request,
            format_html(
                '{} {} <a class="button" href="{}#smtpconfig-test">{}</a>',
                reason,
                _("The site's mail may not go out through it: test it now."),
                self.page_url(profile.pk),
                _("Test it"),
            ),
            messages.WARNING,
        )
