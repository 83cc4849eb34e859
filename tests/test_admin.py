"""The admin: list, write-only password, validation, presets and the test buttons."""

import pytest

from smtpconfig.models import Security, SMTPProfile
from smtpconfig.providers.presets import PRESETS

from .helpers import ADD_URL, LIST_URL, PASSWORD, USER, change_url, form_data, page

pytestmark = pytest.mark.django_db


def test_list_shows_server_mode_sender_default_and_last_test(admin_client, make_profile):
    make_profile(host="smtp.example.com", port=587, security=Security.STARTTLS)
    html = page(admin_client.get(LIST_URL))
    assert "smtp.example.com:587" in html
    assert "STARTTLS" in html
    assert "Example Site &lt;noreply@example.com&gt;" in html
    assert "never" in html


def test_add_stores_the_password_encrypted_and_never_shows_it(admin_client):
    response = admin_client.post(ADD_URL, form_data(password=PASSWORD, username=USER))
    assert response.status_code == 302
    profile = SMTPProfile.objects.get(name="Main")
    assert profile.password == PASSWORD
    assert PASSWORD not in profile.password_encrypted
    html = page(admin_client.get(change_url(profile)))
    assert PASSWORD not in html
    assert profile.password_encrypted not in html
    assert "A password is stored" in html


def test_edit_without_retyping_keeps_the_stored_password(admin_client, make_profile):
    profile = make_profile(password=PASSWORD, username=USER)
    response = admin_client.post(
        change_url(profile), form_data(username=USER, from_name="New Name", timeout="7")
    )
    assert response.status_code == 302
    profile.refresh_from_db()
    assert profile.from_name == "New Name"
    assert profile.password == PASSWORD


def test_new_password_replaces_the_stored_one(admin_client, make_profile):
    profile = make_profile(password="old")
    admin_client.post(change_url(profile), form_data(password="new-Ü"))
    profile.refresh_from_db()
    assert profile.password == "new-Ü"


def test_clear_password_removes_it(admin_client, make_profile):
    profile = make_profile(password=PASSWORD)
    response = admin_client.post(change_url(profile), form_data(clear_password="on"))
    assert response.status_code == 302
    profile.refresh_from_db()
    assert not profile.has_password


def test_new_password_and_clear_together_is_an_error(admin_client, make_profile):
    profile = make_profile(password="old")
    response = admin_client.post(
        change_url(profile), form_data(password="new", clear_password="on")
    )
    assert response.status_code == 200
    assert "not both" in page(response)
    profile.refresh_from_db()
    assert profile.password == "old"


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("port", "0", "greater than or equal to 1"),
        ("port", "70000", "less than or equal to 65535"),
        ("host", "smtp example.com", "cannot contain spaces"),
        ("host", "smtp://smtp.example.com", "without a scheme"),
        ("host", "smtp.example.com:587", "in the Port field"),
        ("host", "smtp.exa\u0000mple.com", "Null characters are not allowed"),
        ("from_email", "not-an-address", "valid email"),
        ("from_name", "Evil\r\nBcc: victim@example.com", "on one line"),
        ("reply_to", "a@example.com\nBcc: b@example.com", "valid email"),
        ("timeout", "0", "greater than or equal to 1"),
        ("security", "tls", "Select a valid choice"),
    ],
)
def test_invalid_values_get_a_clear_error_and_nothing_is_saved(admin_client, field, value, message):
    response = admin_client.post(ADD_URL, form_data(**{field: value}))
    assert response.status_code == 200
    assert message in page(response)
    assert not SMTPProfile.objects.exists()


def test_header_fields_can_never_carry_a_line_break(admin_client, make_profile):
    profile = make_profile()
    response = admin_client.post(change_url(profile), form_data(from_name="A\nB"))
    assert response.status_code == 200
    profile.refresh_from_db()
    assert profile.from_name == "Example Site"


def test_making_another_profile_default_demotes_the_first(admin_client, make_profile):
    first = make_profile(name="First")
    response = admin_client.post(ADD_URL, form_data(name="Second"))
    assert response.status_code == 302
    first.refresh_from_db()
    assert not first.is_default
    assert SMTPProfile.objects.get(name="Second").is_default


def test_preset_fills_the_server_without_javascript(admin_client):
    response = admin_client.post(
        ADD_URL, form_data(preset="gmail", host="", port="25", security="none")
    )
    assert response.status_code == 302
    profile = SMTPProfile.objects.get()
    assert (profile.host, profile.port, profile.security) == ("smtp.gmail.com", 465, "ssl")
    assert profile.username == "noreply@example.com"


def test_every_preset_is_offered_with_its_data_in_the_page(admin_client):
    html = page(admin_client.get(ADD_URL))
    for preset in PRESETS:
        assert f'value="{preset.key}"' in html
    assert 'id="smtpconfig-presets"' in html
    assert "smtp.office365.com" in html
    assert "2-Step Verification" in html


def test_missing_host_without_preset_is_required(admin_client):
    response = admin_client.post(ADD_URL, form_data(host=""))
    assert response.status_code == 200
    assert "Enter the SMTP server" in page(response)


def test_send_test_email_uses_the_unsaved_form_and_stored_password(
    admin_client, make_profile, auth_server
):
    # Same server (a stored password is only ever sent where it was entered for).
    profile = make_profile(port=auth_server.port, username=USER, password=PASSWORD)
    data = form_data(
        port=str(auth_server.port),
        username=USER,
        from_name="Unsaved Name",
        _send_test="Send test email",
        _test_to="check@example.org",
    )
    response = admin_client.post(change_url(profile), data)
    assert response.status_code == 200
    html = page(response)
    assert "The server accepted the test email" in html
    assert "250 2.0.0 Ok: queued as TEST0001" in html
    assert PASSWORD not in html
    received = auth_server.messages[0]
    assert received.rcpt_tos == ["check@example.org"]
    assert received.message["From"] == "Unsaved Name <noreply@example.com>"
    # What was typed is still in the form, and not saved.
    assert 'value="Unsaved Name"' in html
    profile.refresh_from_db()
    assert profile.from_name == "Example Site"
    assert profile.last_test_ok is True
    assert profile.last_test_at is not None
    assert "accepted" in profile.last_test_message


def test_send_test_from_the_add_page_saves_nothing(admin_client, plain_server):
    data = form_data(port=str(plain_server.port), _send_test="1", _test_to="x@example.org")
    response = admin_client.post(ADD_URL, data)
    assert response.status_code == 200
    assert "The server accepted the test email" in page(response)
    assert len(plain_server.messages) == 1
    assert not SMTPProfile.objects.exists()


def test_failed_test_names_the_step_and_the_fix(admin_client, make_profile, auth_server):
    wrong_password = "Wr0ng-Secret-42"
    profile = make_profile(port=auth_server.port, username=USER, password=wrong_password)
    response = admin_client.post(
        change_url(profile),
        form_data(
            port=str(auth_server.port), username=USER, _send_test="1", _test_to="x@example.org"
        ),
    )
    assert response.status_code == 200
    html = page(response)
    assert "The test failed at “Authentication”" in html
    assert "535" in html
    assert "What to change" in html
    assert wrong_password not in html
    profile.refresh_from_db()
    assert profile.last_test_ok is False


def test_failed_connection_suggests_the_mode(admin_client, make_profile, plain_server):
    profile = make_profile(port=plain_server.port)
    response = admin_client.post(
        change_url(profile),
        form_data(
            port=str(plain_server.port), security="ssl", _send_test="1", _test_to="x@example.org"
        ),
    )
    html = page(response)
    assert "The test failed at “TLS”" in html
    assert "wrong version number" in html
    assert "Choose STARTTLS" in html
    assert "suggested: <strong>STARTTLS</strong>" in html


def test_check_connection_sends_nothing(admin_client, make_profile, plain_server):
    profile = make_profile(port=plain_server.port)
    response = admin_client.post(
        change_url(profile),
        form_data(port=str(plain_server.port), _check_connection="1", _test_to="x@example.org"),
    )
    assert "Connection check passed (nothing was sent)" in page(response)
    assert plain_server.messages == []


def test_test_recipient_defaults_to_profile_then_admin_email(
    admin_client, make_profile, admin_user
):
    profile = make_profile()
    assert f'value="{admin_user.email}"' in page(admin_client.get(change_url(profile)))
    profile.test_recipient = "tests@example.org"
    profile.save()
    assert 'value="tests@example.org"' in page(admin_client.get(change_url(profile)))


@pytest.mark.parametrize("recipient", ["", "not an address", "a@b.c\r\nBcc: x@y.z"])
def test_bad_test_recipient_is_an_error_message(
    admin_client, make_profile, plain_server, recipient
):
    profile = make_profile(port=plain_server.port)
    response = admin_client.post(
        change_url(profile),
        form_data(port=str(plain_server.port), _send_test="1", _test_to=recipient),
    )
    assert response.status_code == 200
    assert "valid email address" in page(response)
    assert plain_server.messages == []


def test_invalid_form_is_not_tested(admin_client, make_profile, plain_server):
    profile = make_profile(port=plain_server.port)
    response = admin_client.post(
        change_url(profile), form_data(port="0", _send_test="1", _test_to="x@example.org")
    )
    assert "Correct the errors below before testing" in page(response)
    assert plain_server.messages == []


def test_unreadable_password_never_breaks_the_admin(admin_client, make_profile, settings):
    profile = make_profile(password=PASSWORD, username=USER)
    settings.SMTPCONFIG = {"ENCRYPTION_KEYS": ["Mq8hQZ2y4cmG4gGd1o5sbsXsJ6wJ6oKXoqxvjZ3nQ0M="]}
    assert admin_client.get(LIST_URL).status_code == 200
    html = page(admin_client.get(change_url(profile)))
    assert "cannot be decrypted" in html
    response = admin_client.post(
        change_url(profile), form_data(username=USER, _send_test="1", _test_to="x@example.org")
    )
    assert response.status_code == 200
    assert "type the password again" in page(response)
    # Typing it again fixes it.
    admin_client.post(change_url(profile), form_data(username=USER, password="again"))
    profile.refresh_from_db()
    assert profile.password == "again"


def test_without_a_key_saving_a_password_is_a_form_error(admin_client, settings, monkeypatch):
    monkeypatch.delenv("SMTPCONFIG_ENCRYPTION_KEYS", raising=False)
    settings.SMTPCONFIG = {}
    response = admin_client.post(ADD_URL, form_data(password="x"))
    assert response.status_code == 200
    assert "smtp_generate_key" in page(response)
    assert not SMTPProfile.objects.exists()


def test_make_default_action(admin_client, make_profile):
    make_profile(name="First")
    second = make_profile(name="Second", is_default=False)
    admin_client.post(
        LIST_URL, {"action": "make_default", "_selected_action": [second.pk]}, follow=True
    )
    second.refresh_from_db()
    assert second.is_default


def test_port_and_mode_mismatch_is_warned_on_save(admin_client):
    response = admin_client.post(ADD_URL, form_data(port="465", security="starttls"), follow=True)
    assert "usually goes with SSL/TLS" in page(response)


def test_staff_without_change_permission_cannot_run_tests(client, django_user_model, make_profile):
    from django.contrib.auth.models import Permission

    user = django_user_model.objects.create_user("viewer", password="pw", is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="view_smtpprofile"))
    client.force_login(user)
    profile = make_profile()
    response = client.post(change_url(profile), form_data(_send_test="1", _test_to="x@y.org"))
    assert response.status_code == 403


def ajax_post(client, url, data):
    return client.post(url, data, headers={"X-Requested-With": "XMLHttpRequest"})


def test_in_page_test_answers_with_the_report_as_html(admin_client, make_profile, auth_server):
    profile = make_profile(port=auth_server.port, username=USER, password=PASSWORD)
    response = ajax_post(
        admin_client,
        change_url(profile),
        form_data(port=str(auth_server.port), username=USER, _send_test="1", _test_to="x@y.org"),
    )
    result = response.json()
    assert result["form_valid"] and result["ok"] and not result["error"]
    assert "The server accepted the test email" in result["html"]
    assert "C: AUTH PLAIN ****" in result["html"]
    assert PASSWORD not in response.content.decode()
    assert len(auth_server.messages) == 1


def test_in_page_test_of_an_invalid_form_asks_for_a_normal_submit(admin_client, make_profile):
    profile = make_profile()
    result = ajax_post(
        admin_client, change_url(profile), form_data(port="0", _send_test="1", _test_to="x@y.org")
    ).json()
    assert result["form_valid"] is False
    assert result["html"] == ""


def test_in_page_test_with_a_bad_recipient_says_so(admin_client, make_profile, plain_server):
    profile = make_profile(port=plain_server.port)
    result = ajax_post(
        admin_client,
        change_url(profile),
        form_data(port=str(plain_server.port), _send_test="1", _test_to="nope"),
    ).json()
    assert "not a valid email address" in result["error"]
    assert plain_server.messages == []


def test_last_report_is_kept_and_shown_in_list_and_form(admin_client, make_profile, auth_server):
    profile = make_profile(port=auth_server.port, username=USER, password="Wr0ng-77")
    admin_client.post(
        change_url(profile),
        form_data(port=str(auth_server.port), username=USER, _send_test="1", _test_to="x@y.org"),
    )
    profile.refresh_from_db()
    assert profile.last_test_report["failed_step"] == "auth"
    assert "Failed" not in page(admin_client.get(LIST_URL))
    assert "failed at “Authentication”" in page(admin_client.get(LIST_URL))
    html = page(admin_client.get(change_url(profile)))
    assert "Show the last report" in html
    assert "535" in html
    assert "Wr0ng-77" not in html


def test_transcript_is_in_the_page_with_credentials_hidden(admin_client, make_profile, auth_server):
    profile = make_profile(port=auth_server.port, username=USER, password=PASSWORD)
    html = page(
        admin_client.post(
            change_url(profile),
            form_data(
                port=str(auth_server.port), username=USER, _send_test="1", _test_to="x@y.org"
            ),
        )
    )
    assert "SMTP conversation (credentials hidden)" in html
    assert "C: AUTH PLAIN ****" in html
    assert PASSWORD not in html


def test_preset_with_a_region_fills_that_regions_host_without_javascript(admin_client):
    response = admin_client.post(
        ADD_URL,
        form_data(
            preset="ses",
            preset_region="email-smtp.eu-central-1.amazonaws.com",
            host="",
            username="AKIAEXAMPLE",
        ),
    )
    assert response.status_code == 302
    profile = SMTPProfile.objects.get()
    assert profile.host == "email-smtp.eu-central-1.amazonaws.com"
    assert profile.username == "AKIAEXAMPLE"


def test_sendgrid_preset_sets_the_literal_user_name(admin_client):
    admin_client.post(ADD_URL, form_data(preset="sendgrid", host="", username=""))
    profile = SMTPProfile.objects.get()
    assert (profile.host, profile.username) == ("smtp.sendgrid.net", "apikey")


@pytest.fixture
def dns_zone(settings):
    from .dnsd import Zone, running_dns_server

    zone = Zone(
        {
            ("tenant.test", "MX"): ["0 tenant-test.mail.protection.outlook.com."],
            ("tenant.test", "TXT"): ['"v=spf1 include:spf.protection.outlook.com -all"'],
        }
    )
    with running_dns_server(zone) as address:
        settings.SMTPCONFIG = {**settings.SMTPCONFIG, "DNS_NAMESERVERS": [address]}
        yield address


def test_detect_settings_lists_candidates_and_keeps_the_form(admin_client, dns_zone):
    response = admin_client.post(
        ADD_URL, form_data(host="", from_email="boss@tenant.test", name="Typed name", _detect="1")
    )
    html = page(response)
    assert response.status_code == 200
    assert "Settings found for boss@tenant.test" in html
    assert "smtp.office365.com:587" in html
    assert 'value="Typed name"' in html
    assert "errorlist" not in html
    assert not SMTPProfile.objects.exists()


def test_detect_settings_in_the_page_answers_json(admin_client, dns_zone):
    result = ajax_post(admin_client, ADD_URL, form_data(from_email="boss@tenant.test", _detect="1"))
    data = result.json()
    assert data["candidates"][0] == {
        "host": "smtp.office365.com",
        "port": 587,
        "security": "starttls",
        "username": "boss@tenant.test",
        "preset": "microsoft365",
    }
    assert "Use these settings" in data["html"]


def test_use_these_settings_fills_the_form_without_javascript(admin_client):
    chosen = (
        '{"host": "smtp.office365.com", "port": 587, "security": "starttls", '
        '"username": "boss@tenant.test"}'
    )
    response = admin_client.post(
        ADD_URL, form_data(host="", port="25", security="none", username="", _use_settings=chosen)
    )
    html = page(response)
    assert 'value="smtp.office365.com"' in html
    assert 'value="587"' in html
    assert 'value="boss@tenant.test"' in html
    assert "Test it, then save" in html
    assert not SMTPProfile.objects.exists()


def test_use_these_settings_refuses_a_forged_value(admin_client):
    response = admin_client.post(ADD_URL, form_data(_use_settings='{"host": "a b", "port": 1}'))
    assert response.status_code == 200
    assert "could not be read" in page(response)


def test_profile_page_shows_the_sender_domains_dns(admin_client, make_profile, dns_zone):
    profile = make_profile(from_email="boss@tenant.test", host="smtp.office365.com", port=587)
    html = page(admin_client.get(change_url(profile)))
    assert "Sender domain DNS" in html
    assert "SPF authorizes this server" in html
    assert "no DMARC record" in html
    assert "_dmarc.tenant.test" in html


# OAuth2 presets come back for the app's client id first: tests/test_presets_oauth.py.
@pytest.mark.parametrize(
    "preset", [p for p in PRESETS if p.host and p.auth_method == "password"], ids=lambda p: p.key
)
def test_every_preset_fills_and_saves_the_form_without_javascript(admin_client, preset):
    response = admin_client.post(
        ADD_URL,
        form_data(
            name=preset.key,
            preset=preset.key,
            host="",
            port="25",
            security="none",
            username="",
            from_email="me@example.org",
        ),
    )
    assert response.status_code == 302, page(response)
    profile = SMTPProfile.objects.get(name=preset.key)
    assert (profile.host, profile.port, profile.security) == (
        preset.host,
        preset.port,
        preset.security,
    )
    expected_user = {"address": "me@example.org", "": ""}.get(
        preset.username_rule, preset.username_rule
    )
    assert profile.username == expected_user


def test_the_change_page_fetches_its_profile_once(admin_client, make_profile):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    profile = make_profile()
    admin_client.get(change_url(profile))  # sessions, content types: warmed up
    with CaptureQueriesContext(connection) as captured:
        assert admin_client.get(change_url(profile)).status_code == 200
    fetches = [
        q["sql"]
        for q in captured.captured_queries
        if q["sql"].startswith('SELECT "smtpconfig_smtpprofile"."id"')
    ]
    assert len(fetches) == 1
