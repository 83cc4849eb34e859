"""SMTPProfile: ciphertext at rest, a single default, display helpers."""

import pytest
from django.db import IntegrityError, connection, transaction

from smtpconfig.exceptions import SecretUnreadable
from smtpconfig.models import Security, SMTPProfile

pytestmark = pytest.mark.django_db


def raw_row(profile) -> str:
    """Every column of the profile's row, as the database holds it."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM smtpconfig_smtpprofile WHERE id = %s", [profile.pk])
        return " ".join(str(value) for value in cursor.fetchone())


def test_create_with_password_stores_only_ciphertext(make_profile):
    profile = make_profile(password="s3cret-Пароль")
    assert "s3cret" not in raw_row(profile)
    assert "Пароль" not in raw_row(profile)
    assert profile.password_encrypted
    assert SMTPProfile.objects.get(pk=profile.pk).password == "s3cret-Пароль"


def test_no_password_reads_as_empty(make_profile):
    profile = make_profile()
    assert profile.password == ""
    assert not profile.has_password


def test_assigning_empty_password_clears_it(make_profile):
    profile = make_profile(password="x")
    profile.password = ""
    profile.save()
    assert SMTPProfile.objects.get(pk=profile.pk).password_encrypted == ""


def test_password_under_a_lost_key_is_reported_not_crashing(make_profile, settings):
    profile = make_profile(password="s3cret")
    settings.SMTPCONFIG = {"ENCRYPTION_KEYS": ["Mq8hQZ2y4cmG4gGd1o5sbsXsJ6wJ6oKXoqxvjZ3nQ0M="]}
    reloaded = SMTPProfile.objects.get(pk=profile.pk)
    assert reloaded.has_password
    assert reloaded.password_unreadable
    with pytest.raises(SecretUnreadable, match="type the password again"):
        reloaded.readable_password()


def test_making_a_profile_default_takes_the_mark_off_the_other(make_profile):
    first = make_profile(name="First", is_default=True)
    second = make_profile(name="Second", is_default=True)
    first.refresh_from_db()
    assert second.is_default
    assert not first.is_default
    assert SMTPProfile.objects.filter(is_default=True).count() == 1


def test_database_refuses_a_second_default(make_profile):
    make_profile(name="First", is_default=True)
    second = make_profile(name="Second", is_default=False)
    with pytest.raises(IntegrityError), transaction.atomic():
        SMTPProfile.objects.filter(pk=second.pk).update(is_default=True)


def test_sending_order_puts_enabled_default_first(make_profile):
    make_profile(name="Alpha", is_default=False)
    make_profile(name="Zulu", is_default=True)
    make_profile(name="Beta", is_default=False, enabled=False)
    assert [p.name for p in SMTPProfile.objects.in_sending_order()] == ["Zulu", "Alpha"]


def test_server_shows_ipv6_in_brackets(make_profile):
    assert make_profile(host="::1", port=2525).server == "[::1]:2525"
    assert make_profile(name="B", host="smtp.example.com", port=587).server == (
        "smtp.example.com:587"
    )


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("Example Site", "Example Site <noreply@example.com>"),
        ("Doe, John", '"Doe, John" <noreply@example.com>'),
        ("Пример", "Пример <noreply@example.com>"),
        ("", "noreply@example.com"),
    ],
)
def test_sender_is_display_name_and_address(make_profile, name, expected):
    assert make_profile(from_name=name).sender == expected


def test_security_labels_match_the_panels_users_know():
    assert dict(Security.choices) == {"none": "None", "starttls": "STARTTLS", "ssl": "SSL/TLS"}
