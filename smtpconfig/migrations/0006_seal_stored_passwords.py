"""Seal every stored password to the server settings its profile has now.

Passwords saved before this version do not record which server they belong
to; from now on a password is only used for the server it was sealed to.
A password that cannot be decrypted here (no key configured while migrating)
is left as it is: `manage.py smtp_rotate_key` seals it later, and until then
it is not used (the admin and `manage.py check` say so).
"""

from django.db import migrations

from smtpconfig import secret_binding
from smtpconfig.exceptions import SMTPConfigImproperlyConfigured


def seal_passwords(apps, schema_editor):
    SMTPProfile = apps.get_model("smtpconfig", "SMTPProfile")
    for profile in SMTPProfile.objects.using(schema_editor.connection.alias).exclude(
        password_encrypted=""
    ):
        try:
            sealed = secret_binding.seal_legacy(
                profile.password_encrypted, secret_binding.destination_of_object(profile)
            )
        except SMTPConfigImproperlyConfigured:
            continue
        if sealed:
            SMTPProfile.objects.using(schema_editor.connection.alias).filter(
                pk=profile.pk, password_encrypted=profile.password_encrypted
            ).update(password_encrypted=sealed)


class Migration(migrations.Migration):
    dependencies = [
        ("smtpconfig", "0005_name_on_one_line"),
    ]

    operations = [
        migrations.RunPython(seal_passwords, migrations.RunPython.noop),
    ]
