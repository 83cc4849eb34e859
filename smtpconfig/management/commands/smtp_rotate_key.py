"""``manage.py smtp_rotate_key``: re-encrypt every stored secret with the current key."""

from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from smtpconfig import crypto
from smtpconfig.exceptions import SecretUnreadable, SMTPConfigImproperlyConfigured
from smtpconfig.models import SMTPProfile


class Command(BaseCommand):
    help = (
        "Re-encrypt every stored SMTP password with the first key of "
        "SMTPCONFIG['ENCRYPTION_KEYS']. Put the new key first, keep the old one after it, "
        "run this, then remove the old key. Safe to run twice or to interrupt: each password "
        "is replaced in one step, and only if nobody changed it meanwhile."
    )

    def handle(self, *args, **options):
        try:
            keys = crypto.configured_keys()
            if not keys:
                crypto.encrypt("")  # raises the error that says how to set a key
        except SMTPConfigImproperlyConfigured as exc:
            raise CommandError(str(exc)) from None

        rotated = current = changed_meanwhile = 0
        unreadable: list[str] = []
        for pk, name, token in SMTPProfile.objects.exclude(password_encrypted="").values_list(
            "pk", "name", "password_encrypted"
        ):
            if crypto.is_current(token):
                current += 1
                continue
            try:
                new_token = crypto.rotate(token)
            except SecretUnreadable:
                unreadable.append(name)
                continue
            # Compare-and-set: a password typed in the admin meanwhile is not overwritten.
            if SMTPProfile.objects.filter(pk=pk, password_encrypted=token).update(
                password_encrypted=new_token
            ):
                rotated += 1
            else:
                changed_meanwhile += 1

        self.stdout.write(
            self.style.SUCCESS(
                _(
                    "Re-encrypted %(rotated)d password(s) with the current key; %(current)d "
                    "already used it."
                )
                % {"rotated": rotated, "current": current}
            )
        )
        if changed_meanwhile:
            self.stdout.write(
                _("%(count)d password(s) changed while this ran; run it again to check them.")
                % {"count": changed_meanwhile}
            )
        if unreadable:
            raise CommandError(
                _(
                    "%(count)d password(s) cannot be decrypted with any configured key "
                    "(%(names)s): add the key they were made with, or type them again in the "
                    "admin."
                )
                % {"count": len(unreadable), "names": ", ".join(unreadable)}
            )
