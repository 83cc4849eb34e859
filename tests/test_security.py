"""Security: key rotation, permissions, CSRF, rate limit, audit, network policy, the wire."""

import contextlib
import threading
from io import StringIO

import pytest
from cryptography.fernet import Fernet
from django.contrib.admin.models import LogEntry
from django.contrib.auth.models import Permission
from django.core import mail
from django.core.management import CommandError, call_command
from django.db import connection, connections
from django.test import Client

from smtpconfig import crypto
from smtpconfig.checks import check_stored_secrets
from smtpconfig.models import DeliveryLog, Security, SMTPProfile
from smtpconfig.probe import ProbeSettings, run_probe

from .helpers import (
    ADD_URL,
    LIST_URL,
    PASSWORD,
    USER,
    change_url,
    form_data,
    make_oauth_profile,
    page,
)

pytestmark = pytest.mark.django_db

OLD_KEY, NEW_KEY = Fernet.generate_key().decode(), Fernet.generate_key().decode()


# Key rotation


def test_rotate_key_re_encrypts_with_the_new_key_and_is_safe_to_repeat(settings, make_profile):
    settings.SMTPCONFIG = {**settings.SMTPCONFIG, "ENCRYPTION_KEYS": [OLD_KEY]}
    make_profile(name="A", password="alpha-Ä")
    make_profile(name="B", password="beta", is_default=False)
    make_profile(name="C", is_default=False)  # no password: nothing to do
    settings.SMTPCONFIG = {**settings.SMTPCONFIG, "ENCRYPTION_KEYS": [NEW_KEY, OLD_KEY]}
    assert [m.id for m in check_stored_secrets()] == ["smtpconfig.W003"]

    out = StringIO()
    call_command("smtp_rotate_key", stdout=out)
    assert "Re-encrypted 2 secrets" in out.getvalue()
    settings.SMTPCONFIG = {**settings.SMTPCONFIG, "ENCRYPTION_KEYS": [NEW_KEY]}  # old key gone
    assert SMTPProfile.objects.get(name="A").password == "alpha-Ä"
    assert SMTPProfile.objects.get(name="B").password == "beta"
    assert check_stored_secrets() == []

    out = StringIO()
    call_command("smtp_rotate_key", stdout=out)
    assert "Re-encrypted 0 secrets" in out.getvalue() and "2 already" in out.getvalue()


def test_rotate_key_reports_unreadable_passwords_and_rotates_the_rest(settings, make_profile):
    settings.SMTPCONFIG = {**settings.SMTPCONFIG, "ENCRYPTION_KEYS": [OLD_KEY]}
    make_profile(name="Readable", password="one")
    settings.SMTPCONFIG = {
        **settings.SMTPCONFIG,
        "ENCRYPTION_KEYS": [Fernet.generate_key().decode()],
    }
    make_profile(name="Lost", password="two", is_default=False)
    settings.SMTPCONFIG = {**settings.SMTPCONFIG, "ENCRYPTION_KEYS": [NEW_KEY, OLD_KEY]}
    assert "smtpconfig.W004" in [m.id for m in check_stored_secrets()]
    with pytest.raises(CommandError, match="Lost"):
        call_command("smtp_rotate_key", stdout=StringIO())
    assert crypto.is_current(SMTPProfile.objects.get(name="Readable").password_encrypted)


def test_rotate_key_re_encrypts_oauth2_secrets_too(settings):
    settings.SMTPCONFIG = {**settings.SMTPCONFIG, "ENCRYPTION_KEYS": [OLD_KEY]}
    make_oauth_profile(
        oauth_token_endpoint="https://id.example.com/token",
        oauth_client_secret="client-secret-1",
        oauth_refresh_token="refresh-token-1",
    )
    settings.SMTPCONFIG = {**settings.SMTPCONFIG, "ENCRYPTION_KEYS": [NEW_KEY, OLD_KEY]}
    assert [m.id for m in check_stored_secrets()] == ["smtpconfig.W003"]

    out = StringIO()
    call_command("smtp_rotate_key", stdout=out)
    assert "Re-encrypted 2 secrets" in out.getvalue()
    settings.SMTPCONFIG = {**settings.SMTPCONFIG, "ENCRYPTION_KEYS": [NEW_KEY]}  # old key gone
    profile = SMTPProfile.objects.get(name="OAuth")
    assert profile.oauth_client_secret == "client-secret-1"
    assert profile.oauth_refresh_token == "refresh-token-1"
    assert check_stored_secrets() == []


def test_unreadable_oauth2_secrets_are_named_by_the_check(settings):
    settings.SMTPCONFIG = {**settings.SMTPCONFIG, "ENCRYPTION_KEYS": [OLD_KEY]}
    make_oauth_profile(
        oauth_token_endpoint="https://id.example.com/token",
        oauth_client_secret="",
        oauth_refresh_token="refresh-token-1",
    )
    settings.SMTPCONFIG = {**settings.SMTPCONFIG, "ENCRYPTION_KEYS": [NEW_KEY]}  # key lost
    warnings = {message.id: message.msg for message in check_stored_secrets()}
    assert "OAuth" in warnings["smtpconfig.W004"]
    with pytest.raises(CommandError, match="OAuth"):
        call_command("smtp_rotate_key", stdout=StringIO())


# Who may do what


def staff(django_user_model, *codenames):
    user = django_user_model.objects.create_user("staff", "staff@example.org", "pw", is_staff=True)
    for codename in codenames:
        user.user_permissions.add(Permission.objects.get(codename=codename))
    client = Client()
    client.force_login(user)
    return client


def test_view_only_staff_sees_no_test_buttons_and_gets_403(
    django_user_model, make_profile, plain_server
):
    profile = make_profile(port=plain_server.port)
    client = staff(django_user_model, "view_smtpprofile")
    html = page(client.get(change_url(profile)))
    assert "Send test email" not in html and "Check connection" not in html
    response = client.post(change_url(profile), form_data(_send_test="1", _test_to="x@y.org"))
    assert response.status_code == 403
    assert plain_server.messages == []


def test_change_permission_alone_does_not_allow_tests(
    django_user_model, make_profile, plain_server
):
    profile = make_profile(port=plain_server.port)
    client = staff(django_user_model, "view_smtpprofile", "change_smtpprofile")
    assert "Send test email" not in page(client.get(change_url(profile)))
    data = form_data(port=str(plain_server.port), _check_connection="1", _test_to="x@y.org")
    assert client.post(change_url(profile), data).status_code == 403


def test_test_permission_allows_tests(django_user_model, make_profile, plain_server):
    profile = make_profile(port=plain_server.port)
    client = staff(django_user_model, "view_smtpprofile", "change_smtpprofile", "send_test_email")
    assert "Send test email" in page(client.get(change_url(profile)))
    data = form_data(port=str(plain_server.port), _send_test="1", _test_to="x@y.org")
    assert "The server accepted the test email" in page(client.post(change_url(profile), data))


def test_test_endpoint_needs_a_csrf_token(admin_user, make_profile, plain_server):
    profile = make_profile(port=plain_server.port)
    client = Client(enforce_csrf_checks=True)
    client.force_login(admin_user)
    data = form_data(port=str(plain_server.port), _send_test="1", _test_to="x@y.org")
    assert client.post(change_url(profile), data).status_code == 403
    assert plain_server.messages == []


@pytest.mark.parametrize("recipients", ["a@example.org, b@example.org", "a@example.org b@x.org"])
def test_one_recipient_per_test(admin_client, make_profile, plain_server, recipients):
    profile = make_profile(port=plain_server.port)
    data = form_data(port=str(plain_server.port), _send_test="1", _test_to=recipients)
    assert "not a valid email address" in page(admin_client.post(change_url(profile), data))
    assert plain_server.messages == []


def test_tests_are_rate_limited_per_user(admin_client, make_profile, plain_server, settings):
    settings.SMTPCONFIG = {**settings.SMTPCONFIG, "TEST_RATE_LIMIT": 3}
    profile = make_profile(port=plain_server.port)
    data = form_data(port=str(plain_server.port), _send_test="1", _test_to="x@y.org")
    for _ in range(3):
        assert "accepted the test email" in page(admin_client.post(change_url(profile), data))
    refused = admin_client.post(change_url(profile), data)
    assert "You have run 3 tests in the last minute" in page(refused)
    response = admin_client.post(
        change_url(profile), data, headers={"X-Requested-With": "XMLHttpRequest"}
    )
    assert response.status_code == 429 and "wait" in response.json()["error"]
    assert len(plain_server.messages) == 3


def test_the_rate_limit_counts_the_last_minute_across_a_clock_minute(
    admin_client, make_profile, plain_server, settings
):
    """Tests run just before a clock minute turned still count after it (a fixed window
    let twice the limit through, one burst on each side of the boundary)."""
    import time

    from django.contrib.auth import get_user_model
    from django.core.cache import cache

    settings.SMTPCONFIG = {**settings.SMTPCONFIG, "TEST_RATE_LIMIT": 3}
    user = get_user_model().objects.get(username="admin")
    # Many tests in the previous clock minute: enough that even its last second's share
    # of the last 60 s is over the limit, whenever in this minute the test runs.
    previous_minute = int(time.time() // 60) - 1
    cache.set(f"smtpconfig:tests:{user.pk}:{previous_minute}", 300, timeout=120)
    profile = make_profile(port=plain_server.port)
    data = form_data(port=str(plain_server.port), _send_test="1", _test_to="x@y.org")
    refused = admin_client.post(change_url(profile), data)
    assert "You have run 3 tests in the last minute" in page(refused)
    assert plain_server.messages == []


# Audit


def test_each_test_is_in_the_history_with_recipient_and_outcome(
    admin_client, make_profile, plain_server
):
    profile = make_profile(port=plain_server.port)
    data = form_data(port=str(plain_server.port), _send_test="1", _test_to="audit@example.org")
    admin_client.post(change_url(profile), data)
    entry = LogEntry.objects.get(object_id=str(profile.pk))
    message = entry.get_change_message()
    assert "Sent a test email to audit@example.org" in message and "accepted" in message
    assert entry.user.username == "admin"


def test_a_test_of_an_unsaved_profile_is_recorded_too(admin_client, plain_server):
    data = form_data(
        name="Draft", port=str(plain_server.port), _check_connection="1", _test_to="a@b.org"
    )
    admin_client.post(ADD_URL, data)
    entry = LogEntry.objects.get()
    assert entry.object_repr == "Draft" and entry.object_id is None
    assert str(entry.content_type.name) == "SMTP profile (not saved)"
    assert "Checked the connection" in entry.get_change_message()


def test_recent_actions_say_not_saved_in_the_readers_language(admin_client, plain_server):
    """An entry written by an English admin reads «не сохранён» for a Russian one (the
    object name is stored as written; the "(not saved)" is translated when shown)."""
    data = form_data(
        name="Draft", port=str(plain_server.port), _check_connection="1", _test_to="a@b.org"
    )
    admin_client.post(ADD_URL, data, headers={"Accept-Language": "en"})
    english = page(admin_client.get("/admin/", headers={"Accept-Language": "en"}))
    assert "SMTP profile (not saved)" in english
    russian = page(admin_client.get("/admin/", headers={"Accept-Language": "ru"}))
    assert "не сохранён" in russian.lower() and "not saved" not in russian


def test_history_says_password_changed_without_the_value(admin_client, make_profile):
    profile = make_profile(password="old")
    admin_client.post(change_url(profile), form_data(password="N3w-Secret!", port="2525"))
    message = LogEntry.objects.get(object_id=str(profile.pk)).get_change_message()
    assert "password changed" in message and "Port" in message
    assert "N3w-Secret!" not in message
    admin_client.post(change_url(profile), form_data(clear_password="on", port="2525"))
    assert "password cleared" in LogEntry.objects.latest("id").get_change_message()


# Outbound addresses


def test_cloud_metadata_address_is_refused_by_the_probe():
    report = run_probe(ProbeSettings(host="169.254.169.254", port=25, timeout=2), "x@y.org")
    assert report.failed_step.name == "connect"
    assert report.diagnosis.code == "address_blocked"
    assert "ALLOWED_HOSTS" in report.diagnosis.fix


def test_cloud_metadata_address_is_refused_by_the_backend(make_profile, use_backend):
    make_profile(host="169.254.169.254", port=25)
    with pytest.raises(ConnectionRefusedError, match="not allowed"):
        mail.send_mail("Hi", "Body", None, ["x@y.org"])
    assert DeliveryLog.objects.get().outcome == "failed"


def test_blocked_networks_can_be_narrowed_and_allowed_hosts_widen(
    settings, make_profile, plain_server, use_backend
):
    settings.SMTPCONFIG = {**settings.SMTPCONFIG, "BLOCKED_NETWORKS": ["127.0.0.0/8"]}
    make_profile(port=plain_server.port)
    with pytest.raises(ConnectionRefusedError):
        mail.send_mail("Hi", "Body", None, ["x@y.org"])
    assert plain_server.messages == []
    settings.SMTPCONFIG = {**settings.SMTPCONFIG, "ALLOWED_HOSTS": ["127.0.0.1"]}
    assert mail.send_mail("Hi", "Body", None, ["x@y.org"]) == 1


# The wire


def test_no_password_over_plain_smtp_unless_allowed_by_the_probe(auth_server):
    settings = ProbeSettings(
        host="127.0.0.1",
        port=auth_server.port,
        security=Security.NONE,
        username=USER,
        password=PASSWORD,
        from_email="a@example.com",
        timeout=3,
    )
    report = run_probe(settings, "x@y.org")
    assert report.diagnosis.code == "plaintext_auth_refused"
    assert auth_server.authenticator.attempts == []
    assert not any(line.startswith("C: AUTH") for line in report.transcript)


def test_no_password_over_plain_smtp_unless_allowed_by_the_backend(
    auth_server, make_profile, use_backend
):
    profile = make_profile(
        port=auth_server.port, username=USER, password=PASSWORD, allow_plaintext_auth=False
    )
    with pytest.raises(Exception, match="unencrypted"):
        mail.send_mail("Hi", "Body", None, ["x@y.org"])
    assert auth_server.authenticator.attempts == []
    profile.allow_plaintext_auth = True
    profile.password = PASSWORD  # the permission is part of where the password may go
    profile.save()
    assert mail.send_mail("Hi", "Body", None, ["x@y.org"]) == 1


def test_verification_off_is_warned_in_list_and_form(admin_client, make_profile):
    profile = make_profile(security=Security.SSL, port=465, verify_certificate=False)
    assert "certificate not verified" in page(admin_client.get(LIST_URL))
    assert "Certificate verification is off" in page(admin_client.get(change_url(profile)))


def test_banners_for_no_default_and_a_failing_default(admin_client, make_profile):
    assert "No SMTP profile yet" in page(admin_client.get(LIST_URL))
    profile = make_profile(is_default=False)
    assert "No enabled profile is the default" in page(admin_client.get(LIST_URL))
    profile.is_default = True
    profile.save()
    SMTPProfile.objects.filter(pk=profile.pk).update(last_test_ok=False)
    assert "The last test of the default profile" in page(admin_client.get(LIST_URL))


# Bad input that reaches the wire


def test_display_name_is_kept_even_for_an_address_the_parser_refuses():
    from smtpconfig.models import format_sender

    assert format_sender("Отдел", "отдел@пример.test") == '"Отдел" <отдел@пример.test>'


def test_internationalised_domains_and_names_go_out_correctly(
    settings, make_profile, plain_server, use_backend
):
    from .dnsd import Zone, running_dns_server

    zone = Zone({("xn--e1afmkfd.test", "A"): ["127.0.0.1"]})  # пример.test
    with running_dns_server(zone) as dns:
        settings.SMTPCONFIG = {**settings.SMTPCONFIG, "DNS_NAMESERVERS": [dns]}
        report = run_probe(
            ProbeSettings(
                host="пример.test",
                port=plain_server.port,
                security=Security.NONE,
                from_email="sales@пример.test",
                from_name="Отдел продаж",
                timeout=3,
            ),
            "получатель@example.org",
        )
    assert report.ok, report.summary()
    received = plain_server.messages[0]
    assert received.mail_from == "sales@xn--e1afmkfd.test"
    assert received.message["From"].addresses[0].display_name == "Отдел продаж"
    assert b"\r\nFrom: =?utf-8?" in received.data


# Databases and concurrency


@pytest.mark.django_db(transaction=True)
def test_concurrent_default_switches_end_with_exactly_one_default(make_profile):
    profiles = [make_profile(name=f"P{n}", is_default=False) for n in range(6)]
    errors = []
    barrier = threading.Barrier(len(profiles))

    def make_default(profile):
        try:
            barrier.wait(5)
            for _ in range(3):
                fresh = SMTPProfile.objects.get(pk=profile.pk)
                fresh.is_default = True
                fresh.save()
        except Exception as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=make_default, args=(p,)) for p in profiles]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    assert SMTPProfile.objects.filter(is_default=True).count() == 1
    assert connection.vendor in {"sqlite", "postgresql"}


def _frames(exc):
    """Every frame of ``exc``'s traceback and of the exceptions chained to it."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        tb = exc.__traceback__
        while tb is not None:
            yield tb.tb_frame
            tb = tb.tb_next
        exc = exc.__cause__ or exc.__context__


@pytest.mark.parametrize("profiles", [1, 2])
def test_a_failed_login_raised_to_the_caller_carries_no_password_in_any_frame(
    make_profile, auth_server, use_backend, profiles
):
    """Django's error reports list every frame's locals: none may hold the password."""
    make_profile(port=auth_server.port, username=USER, password="Wr0ng-S3cret-77")
    if profiles == 2:
        make_profile(
            name="Second",
            port=auth_server.port,
            username=USER,
            password="Wr0ng-S3cret-77",
            is_default=False,
        )
    with pytest.raises(Exception) as excinfo:
        mail.send_mail("Hi", "Body", None, ["x@y.org"])
    frames = [f for f in _frames(excinfo.value) if f.f_code.co_filename != __file__]
    assert frames  # the backend's own frames are there, only not smtplib's below them
    for frame in frames:
        assert "Wr0ng-S3cret-77" not in repr(frame.f_locals), frame.f_code.co_name
    assert "Wr0ng-S3cret-77" not in str(excinfo.value)


def test_admin_error_reports_hide_the_typed_password(rf, admin_user):
    """Django's error report for a request to the change form masks the password."""
    from django.views.debug import SafeExceptionReporterFilter

    assert _post_is_cleansed(rf, admin_user, SafeExceptionReporterFilter)


def _post_is_cleansed(rf, admin_user, reporter_filter) -> bool:
    from django.contrib import admin

    request = rf.post("/", {"password": "Typed-S3cret", "name": "x"})
    request.user = admin_user
    model_admin = admin.site._registry[SMTPProfile]
    with contextlib.suppress(Exception):  # only the marking of the request matters here
        model_admin.changeform_view(request, None)
    cleansed = reporter_filter().get_post_parameters(request)
    return cleansed.get("password") == reporter_filter.cleansed_substitute
