"""``manage.py smtp_rotate_key``: re-encrypt every stored secret with the current key."""

from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import ngettext

from smtpconfig import crypto, secret_binding
from smtpconfig.exceptions import SecretUnreadable, SMTPConfigImproperlyConfigured
from smtpconfig.models import OutboxMessage, SMTPProfile
from smtpconfig.models.stored_secrets import stored_secrets


class Command(BaseCommand):
    help = (
        "Re-encrypt every stored secret (SMTP passwords, OAuth2 client secrets and refresh "
        "tokens, and the messages kept in the outbox) with the first key of "
        "SMTPCONFIG['ENCRYPTION_KEYS']. Put the new key first, "
        "keep the old one after it, run this, then remove the old key. Safe to run twice or "
        "to interrupt: each secret is replaced in one step, and only if nobody changed it "
        "meanwhile. A password saved by an older version is also sealed to its profile's "
        "current server settings."
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
        for secret in stored_secrets(SMTPProfile.objects.all()):
            profile, column, token = secret
            try:
                new_token = None
                if column == "password_encrypted":
                    # A password saved by an older version is sealed to its server now.
                    new_token = secret_binding.seal_legacy(token, profile.secret_destination())
                if new_token is not None:
                    sealed += 1
                elif crypto.is_current(token):
                    current += 1
                    continue
                else:
                    new_token = crypto.rotate(token)
            except SecretUnreadable:
                if profile.name not in unreadable:
                    unreadable.append(profile.name)
                continue
            # Compare-and-set: a secret typed in the admin meanwhile is not overwritten.
            if SMTPProfile.objects.filter(pk=profile.pk, **{column: token}).update(
                **{column: new_token}
            ):
                rotated += 1
            else:
                changed_meanwhile += 1

        messages_rotated, messages_unreadable = self._rotate_outbox()
        self.stdout.write(
            self.style.SUCCESS(
                ngettext(
                    "Re-encrypted %(rotated)d secret with the current key; %(current)d "
                    "already used it.",
                    "Re-encrypted %(rotated)d secrets with the current key; %(current)d "
                    "already used it.",
                    rotated,
                )
                % {"rotated": rotated, "current": current}
            )
        )
        if sealed:
            self.stdout.write(
                ngettext(
                    "%(count)d password saved by an older version is now sealed to its "
                    "profile's server settings.",
                    "%(count)d passwords saved by an older version are now sealed to their "
                    "profile's server settings.",
                    sealed,
                )
                % {"count": sealed}
            )
        if messages_rotated:
            self.stdout.write(
                ngettext(
                    "Re-encrypted %(count)d message kept in the outbox.",
                    "Re-encrypted %(count)d messages kept in the outbox.",
                    messages_rotated,
                )
                % {"count": messages_rotated}
            )
        if messages_unreadable:
            self.stderr.write(
                ngettext(
                    "%(count)d message in the outbox cannot be decrypted with any configured "
                    "key: add the key it was queued with, or it cannot be sent.",
                    "%(count)d messages in the outbox cannot be decrypted with any configured "
                    "key: add the key they were queued with, or they cannot be sent.",
                    messages_unreadable,
                )
                % {"count": messages_unreadable}
            )
        if changed_meanwhile:
            self.stdout.write(
                ngettext(
                    "%(count)d secret changed while this ran; run it again to check it.",
                    "%(count)d secrets changed while this ran; run it again to check them.",
                    changed_meanwhile,
                )
                % {"count": changed_meanwhile}
            )
        if unreadable:
            raise CommandError(
                ngettext(
                    "The secrets of %(count)d profile cannot be decrypted with any configured "
                    "key (%(names)s): add the key they were made with, or type the password "
                    "or client secret again in the admin (and connect OAuth2 accounts again).",
                    "The secrets of %(count)d profiles cannot be decrypted with any configured "
                    "key (%(names)s): add the key they were made with, or type the passwords "
                    "or client secrets again in the admin (and connect OAuth2 accounts again).",
                    len(unreadable),
                )
                % {"count": len(unreadable), "names": ", ".join(unreadable)}
            )

    def _rotate_outbox(self) -> tuple[int, int]:
        """Re-encrypt the content of outbox messages; return (rotated, unreadable)."""
        rotated = unreadable = 0
        kept = OutboxMessage.objects.exclude(content_encrypted="").only("pk", "content_encrypted")
        for message in kept.iterator(chunk_size=200):
            token = message.content_encrypted
            if crypto.is_current(token):
                continue
            try:
                new_token = crypto.rotate(token)
            except SecretUnreadable:
                unreadable += 1
                continue
            # Compare-and-set: a message sent (and emptied) meanwhile stays as it is.
            rotated += OutboxMessage.objects.filter(pk=message.pk, content_encrypted=token).update(
                content_encrypted=new_token
            )
        return rotated, unreadable
