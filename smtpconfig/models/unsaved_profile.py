"""A profile typed into the form but not saved, as the admin history names it."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

from .profile import SMTPProfile


class UnsavedSMTPProfile(SMTPProfile):
    """The content type of history entries about a profile that was tested (or whose
    settings were detected) before it was saved.

    Django stores an entry's object name as text in the language of whoever wrote it,
    but shows its content type's name in the reader's language: "(not saved)" belongs
    there, so the recent actions read «Профиль SMTP (не сохранён)» in Russian whoever
    ran the test. A proxy: no table, no permissions of its own.
    """

    class Meta:
        proxy = True
        default_permissions = ()
        verbose_name = _("SMTP profile (not saved)")
        verbose_name_plural = _("SMTP profiles (not saved)")
