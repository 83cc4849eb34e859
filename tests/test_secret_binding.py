"""A stored password only ever goes to the server it was entered for (issue 10, finding 1).

The attacker is a staff user who may change profiles and run tests, pointing a
profile at a server of their own and leaving the password blank ("keep"), or
code that changes a profile with ``QuerySet.update()``. Their server is a real
SMTP server on 127.0.0.1 that records every AUTH attempt.
"""

from io import StringIO

import pytest
from django.core import mail
from django.core.management import CommandError, call_command

from smtpconfig import crypto
from smtpconfig.checks import check_stored_secrets
from smtpconfig.exceptions import SecretUnreadable
from smtpconfig.models import DeliveryLog, SMTPProfile
from smtpconfig.secret_binding import SecretBoundElsewhere

from .helpers import PASSWORD, USER, client_with, profile_form
from .smtpd import running_smtp_server

pytestmark = pytest.mark.django_db


@pytest.fixture
def attacker_server():
    """The attacker's own SMTP server: accepts any AUTH attempt and records it."""
    with running_smtp_server(users={}) as server:
        yield server


@pytest.fixture
def staff_client(db):
    """A staff user who may change profiles and run tests, but is not a superuser."""
    return client_with("view_smtpprofile", "change_smtpprofile", "send_test_email")


def _change_url(profile):
    from django.urls import reverse

    return reverse("admin:smtpconfig_smtpprofile_change", args=[profile.pk])


@pytest.mark.parametrize("button", ["_check_connection", "_send_test"])
def test_a_test_of_another_server_never_gets_the_stored_password(
    staff_client, make_profile, auth_server, attacker_server, button
):
    profile = make_profile(port=auth_server.port, username=USER, password=PASSWORD)
    response = staff_client.post(
        _change_url(profile),
        profile_form(
            profile, port=str(attacker_server.port), **{button: "1", "_test_to": "a@b.org"}
        ),
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert "The stored password is only ever sent to the server it was entered for" in html
    assert attacker_server.authenticator.attempts == []
    assert attacker_server.messages == []


def test_saving_another_server_without_the_password_is_refused(
    staff_client, make_profile, auth_server, attacker_server
):
    profile = make_profile(port=auth_server.port, username=USER, password=PASSWORD)
    response = staff_client.post(_change_url(profile), profile_form(profile, host="localhost"))
    assert response.status_code == 200
    assert "type it again" in response.content.decode()
    profile.refresh_from_db()
    assert profile.host == "127.0.0.1"
    assert profile.password == PASSWORD


@pytest.mark.parametrize(
    "change",
    [
        {"security": "starttls"},
        {"allow_plaintext_auth": None},  # unticked
        {"verify_certificate": None},
        {"ca_certificate": "-----BEGIN CERTIFICATE-----"},
    ],
    ids=["mode", "plaintext", "verification", "ca"],
)
def test_every_destination_field_asks_for_the_password_again(
    staff_client, make_profile, auth_server, change
):
    profile = make_profile(port=auth_server.port, username=USER, password=PASSWORD)
    response = staff_client.post(_change_url(profile), profile_form(profile, **change))
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert "password" in errors
    assert SMTPProfile.objects.get(pk=profile.pk).password == PASSWORD


def test_retyping_the_password_moves_it_to_the_new_server(
    staff_client, make_profile, auth_server, attacker_server
):
    profile = make_profile(port=auth_server.port, username=USER, password=PASSWORD)
    response = staff_client.post(
        _change_url(profile),
        profile_form(profile, port=str(attacker_server.port), password="new-one"),
    )
    assert response.status_code == 302
    profile.refresh_from_db()
    assert profile.password == "new-one"


def test_a_bulk_update_cannot_send_the_password_elsewhere(
    use_backend, settings, make_profile, auth_server, attacker_server
):
    profile = make_profile(port=auth_server.port, username=USER, password=PASSWORD)
    SMTPProfile.objects.filter(pk=profile.pk).update(port=attacker_server.port)
    with pytest.raises(SecretUnreadable, match="entered for another server"):
        mail.send_mail("Reset", "Body", None, ["victim@example.org"])
    # fail_silently does not hide a configuration error either, and still sends nothing.
    with pytest.raises(SecretUnreadable):
        mail.send_mail("Reset", "Body", None, ["victim@example.org"], fail_silently=True)
    assert attacker_server.authenticator.attempts == []
    assert attacker_server.messages == []
    assert DeliveryLog.objects.filter(outcome="failed").exists()
    with pytest.raises(SecretBoundElsewhere):
        SMTPProfile.objects.get(pk=profile.pk).password  # noqa: B018


def test_explicit_backend_arguments_for_another_server_get_no_stored_password(
    make_profile, auth_server, attacker_server
):
    make_profile(port=auth_server.port, username=USER, password=PASSWORD)
    connection = mail.get_connection("smtpconfig.backends.EmailBackend", port=attacker_server.port)
    mail.EmailMessage("Hi", "Body", None, ["x@example.org"], connection=connection).send()
    assert attacker_server.authenticator.attempts == []
    assert len(attacker_server.messages) == 1  # sent, without a login


def test_smtp_test_refuses_a_password_entered_for_another_server(
    make_profile, auth_server, attacker_server
):
    profile = make_profile(port=auth_server.port, username=USER, password=PASSWORD)
    SMTPProfile.objects.filter(pk=profile.pk).update(port=attacker_server.port)
    with pytest.raises(CommandError, match="entered for another server") as error:
        call_command("smtp_test", "--to", "a@b.org", stdout=StringIO())
    assert error.value.returncode == 2
    assert attacker_server.authenticator.attempts == []


def test_passwords_from_older_versions_are_refused_until_sealed(make_profile, auth_server):
    profile = make_profile(port=auth_server.port, username=USER)
    # How a version before sealing stored it: the password alone, encrypted.
    SMTPProfile.objects.filter(pk=profile.pk).update(password_encrypted=crypto.encrypt(PASSWORD))
    profile.refresh_from_db()
    with pytest.raises(SecretBoundElsewhere, match="older version"):
        profile.password  # noqa: B018
    assert "smtpconfig.W005" in [message.id for message in check_stored_secrets()]

    out = StringIO()
    call_command("smtp_rotate_key", stdout=out)
    assert "sealed" in out.getvalue()
    profile.refresh_from_db()
    assert profile.password == PASSWORD
    assert check_stored_secrets() == []


def test_the_upgrade_migration_seals_existing_passwords(make_profile):
    from importlib import import_module

    from django.apps import apps
    from django.db import connection

    migration = import_module("smtpconfig.migrations.0006_seal_stored_passwords")
    profile = make_profile(username=USER)
    SMTPProfile.objects.filter(pk=profile.pk).update(password_encrypted=crypto.encrypt(PASSWORD))

    class SchemaEditor:  # the migration only needs the connection's alias
        pass

    editor = SchemaEditor()
    editor.connection = connection
    migration.seal_passwords(apps, editor)
    profile.refresh_from_db()
    assert profile.password == PASSWORD


def test_setting_the_password_before_the_host_seals_it_to_the_saved_host(db):
    profile = SMTPProfile(name="Late", host="old.example.com", from_email="a@example.com")
    profile.password = PASSWORD
    profile.host = "new.example.com"
    profile.save()
    assert SMTPProfile.objects.get(pk=profile.pk).password == PASSWORD


def test_an_unvalidated_port_does_not_break_sealing():
    """Found by the property suite: a model built from raw values seals its password."""
    profile = SMTPProfile(name="Raw", host="smtp.example.com", port=" ", password=PASSWORD)
    assert profile.password == PASSWORD
