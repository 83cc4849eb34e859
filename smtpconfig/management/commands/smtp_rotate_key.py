"""``manage.py smtp_rotate_key``: re-encrypt every stored secret with the current key."""

from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from smtpconfig import crypto, secret_binding
from smtpconfig.exceptions import SecretUnreadable, SMTPConfigImproperlyConfigured
from smtpconfig.models import SMTPProfile


class Command(BaseCommand):
    help = (
        "Re-encrypt every stored SMTP password with the first key of "
        "SMTPCONFIG['ENCRYPTION_KEYS']. Put the new key first, keep the old one after it, "
        "run this, then remove the old key. Safe to run twice or to interrupt: each password "
        "is replaced in one step, and only if nobody changed it meanwhile. A password saved by "
        "an older version is also sealed to its profile's current server settings."
    )

    def handle(self, *args, **options):
        try:
            keys = crypto.configured_keys()
            if not keys:
                crypto.encrypt("")  # raises the error that says how to set a key
        except SMTPConfigImproperlyConfigured as exc:
            raise CommandError(str(exc)) from None

        rotated = current = changed_meanwhile = sealed = 0
        unreadable: list[str] = []
        for profile in SMTPProfile.objects.exclude(password_encrypted=""):
            token = profile.password_encrypted
            try:
                # A password saved by an older version is sealed to the profile's server now.
                new_token = secret_binding.seal_legacy(token, profile.secret_destination())
            except SecretUnreadable:
                unreadable.append(profile.name)
                continue
            if new_token is not None:
                sealed += 1
            elif crypto.is_current(token):
                current += 1
                continue
            else:
                new_token = crypto.rotate(token)
            # Compare-and-set: a password typed in the admin meanwhile is not overwritten.
            if SMTPProfile.objects.filter(pk=profile.pk, password_encrypted=token).update(
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
        if sealed:
            self.stdout.write(
                _(
                    "%(count)d password(s) saved by an older version are now sealed to their "
                    "profile's server settings."
                )
                % {"count": sealed}
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
