from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("smtpconfig", "0011_oauth_field_names"),
    ]

    operations = [
        migrations.AddField(
            model_name="smtpprofile",
            name="last_test_settings_digest",
            field=models.CharField(
                blank=True,
                default="",
                editable=False,
                max_length=64,
                verbose_name="settings of the last test",
            ),
        ),
    ]
