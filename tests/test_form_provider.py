"""The profile form's provider, user name, test recipient and messages (issue 13, items 7,
8 and 12), without a browser: the form, the admin's pages, the migration and the diagnosis."""

import socket

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from smtpconfig.diagnosis import diagnose
from smtpconfig.forms import SMTPProfileForm
from smtpconfig.models import SMTPProfile
from smtpconfig.providers.presets import PRESETS, get_preset, provider_for, validate_provider
from smtpconfig.transport.settings import ConnectionSettings
from smtpconfig.transport.steps import Step

from .helpers import change_url, form_data, page

pytestmark = pytest.mark.django_db

SENDER = "noreply@example.com"


def bound(instance=None, **overrides) -> SMTPProfileForm:
    form = SMTPProfileForm(data=form_data(**overrides), instance=instance)
    assert form.is_valid(), form.errors
    return form


# Item 7: the provider is stored and shown again.


def test_a_profile_made_from_a_preset_keeps_its_provider_and_reopens_with_it():
    profile = bound(preset="gmail", host="").save()
    assert (profile.provider, profile.host) == ("gmail", "smtp.gmail.com")
    form = SMTPProfileForm(instance=profile)
    assert form["preset"].value() == "gmail"
    help_text = str(form.fields["preset"].help_text)
    assert help_text.startswith(str(get_preset("gmail").login_note))
    assert help_text.endswith(get_preset("gmail").port_note)
    assert profile.provider_preset == get_preset("gmail")


def test_presets_prefer_implicit_tls_where_the_provider_offers_it_and_say_why():
    """Implicit TLS saves STARTTLS's two round trips on every new connection (issue 15)."""
    both = [p for p in PRESETS if {p.port, p.alternative_port} == {465, 587}]
    assert {"gmail", "gmail_oauth2", "yahoo", "aol", "sendgrid", "ses"} <= {p.key for p in both}
    for preset in both:
        assert (preset.port, preset.security, preset.alternative_security) == (
            465,
            "ssl",
            "starttls",
        ), preset.key
        assert "465" in preset.port_note and "587" in preset.port_note, preset.key
        assert preset.as_dict()["port_note"] == preset.port_note
    # A provider with one submission port has nothing to explain.
    assert get_preset("microsoft365").port_note == ""
    assert get_preset("microsoft365").note == str(get_preset("microsoft365").login_note)


def test_a_saved_profile_without_a_provider_reopens_as_other(make_profile):
    profile = make_profile(host="smtp.gmail.com", provider="")
    form = SMTPProfileForm(instance=profile)
    assert form["preset"].value() == "other"
    assert str(form.fields["preset"].help_text) == str(get_preset("other").login_note)
    # Saved again as it came: still Other, though the host is Gmail's.
    profile = bound(profile, host="smtp.gmail.com", preset="other").save()
    assert profile.provider == ""


def test_choosing_other_clears_the_provider_and_a_post_without_one_keeps_it(make_profile):
    profile = make_profile(host="smtp.sendgrid.net", provider="sendgrid")
    assert bound(profile, host="smtp.sendgrid.net", preset="sendgrid").save().provider == (
        "sendgrid"
    )
    assert bound(profile, host="smtp.sendgrid.net", preset=None).save().provider == "sendgrid"
    assert bound(profile, host="smtp.sendgrid.net", preset="other").save().provider == ""


@pytest.mark.parametrize("key", ["other", "nope"])
def test_a_provider_must_be_a_presets_key(key):
    validate_provider("")
    validate_provider("sendgrid")
    with pytest.raises(ValidationError):
        validate_provider(key)


@pytest.mark.parametrize(
    ("host", "auth_method", "provider"),
    [
        ("smtp.gmail.com", "password", "gmail"),
        ("smtp.gmail.com", "oauth2", "gmail_oauth2"),
        ("smtp.office365.com", "oauth2", "microsoft365"),
        ("smtp.sendgrid.net", "password", "sendgrid"),
        ("mail.example.org", "password", ""),
    ],
)
def test_the_provider_a_host_was_made_from(host, auth_method, provider):
    assert provider_for(host, auth_method) == provider


@pytest.mark.django_db(transaction=True)
def test_the_migration_fills_the_provider_from_the_host():
    executor = MigrationExecutor(connection)
    executor.migrate([("smtpconfig", "0011_oauth_field_names")])
    old = executor.loader.project_state([("smtpconfig", "0011_oauth_field_names")]).apps
    Profile = old.get_model("smtpconfig", "SMTPProfile")
    common = {"port": 587, "from_email": SENDER, "security": "starttls"}
    Profile.objects.create(name="G", host="smtp.gmail.com", **common)
    Profile.objects.create(name="GO", host="smtp.gmail.com", auth_method="oauth2", **common)
    Profile.objects.create(name="Own", host="mail.example.org", **common)
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())
    providers = dict(SMTPProfile.objects.values_list("name", "provider"))
    assert providers == {"G": "gmail", "GO": "gmail_oauth2", "Own": ""}


# Item 8: a user name a preset filled in follows the next preset (without JavaScript).


@pytest.mark.parametrize(
    ("preset", "username"),
    [("microsoft365", SENDER), ("zoho", SENDER), ("brevo", ""), ("mailgun", "")],
)
def test_switching_presets_replaces_the_user_name_the_last_one_filled(preset, username):
    # The page came back from a SendGrid fill: its server and "apikey".
    data = form_data(preset=preset, host="smtp.sendgrid.net", username="apikey")
    form = SMTPProfileForm(data=data)
    form.is_valid()  # Microsoft 365 still wants its OAuth2 app: what was filled in is checked
    new = get_preset(preset)
    assert form.cleaned_data["host"] == new.host
    assert form.cleaned_data["username"] == username
    assert form.data["username"] == username  # shown again so


def test_switching_presets_keeps_a_typed_user_name_and_a_typed_host():
    form = bound(preset="zoho", host="smtp.sendgrid.net", username="me@corp.example")
    assert form.cleaned_data["host"] == "smtp.zoho.com"
    assert form.cleaned_data["username"] == "me@corp.example"
    form = bound(preset="zoho", host="relay.corp.example", username="apikey")
    assert form.cleaned_data["host"] == "relay.corp.example"
    assert form.cleaned_data["username"] == "apikey"


def test_the_address_a_preset_filled_in_becomes_the_next_presets_literal():
    form = bound(preset="sendgrid", host="smtp.gmail.com", username=SENDER)
    assert (form.cleaned_data["host"], form.cleaned_data["username"]) == (
        "smtp.sendgrid.net",
        "apikey",
    )


# Item 12: one test recipient, the mode None's note, messages and the DNS advice.


def test_the_test_recipient_is_the_send_the_test_to_box(admin_client, make_profile):
    profile = make_profile(test_recipient="old@example.org")
    html = page(admin_client.get(change_url(profile)))
    assert 'name="test_recipient"' not in html
    assert 'name="_test_to"' in html and 'value="old@example.org"' in html
    response = admin_client.post(change_url(profile), form_data(_test_to="new@example.org"))
    assert response.status_code == 302
    profile.refresh_from_db()
    assert profile.test_recipient == "new@example.org"


def test_a_bad_test_address_is_not_saved(admin_client, make_profile):
    profile = make_profile(test_recipient="old@example.org")
    response = admin_client.post(
        change_url(profile), form_data(_test_to="not an address"), follow=True
    )
    assert "“not an address” is not a valid email address" in page(response)
    profile.refresh_from_db()
    assert profile.test_recipient == "old@example.org"


def test_certificate_fields_say_they_are_unused_without_tls():
    form = SMTPProfileForm()
    for name in ("verify_certificate", "ca_certificate"):
        assert "Not used when the SSL/TLS mode is None." in str(form.fields[name].help_text)


def test_a_message_that_starts_with_the_server_keeps_its_case(
    admin_client, make_profile, plain_server
):
    profile = make_profile(host="localhost", port=plain_server.port)
    data = form_data(
        host="localhost", port=str(plain_server.port), _check_connection="1", _test_to="a@b.org"
    )
    html = page(admin_client.post(change_url(profile), data))
    assert f"localhost:{plain_server.port} accepted the connection" in html
    assert "Localhost:" not in html


@pytest.mark.parametrize(
    ("host", "spelling"),
    [("smtp.gmail.com", False), ("smtp.zoho.eu", False), ("smtp.exmaple.com", True)],
)
def test_a_presets_server_name_is_not_called_misspelt(host, spelling):
    settings = ConnectionSettings(host=host, port=587, from_email=SENDER)
    error = socket.gaierror(socket.EAI_NONAME, "Name or service not known")
    diagnosis = diagnose(Step.RESOLVE, error, settings)
    assert diagnosis.code == "host_not_found"
    assert ("spelling" in str(diagnosis.fix)) is spelling
