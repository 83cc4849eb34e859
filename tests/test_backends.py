"""smtpconfig.backends.EmailBackend against real SMTP servers."""

import logging
import smtplib

import pytest
from django.core import mail
from django.core.mail import EmailMessage, get_connection

from smtpconfig.backends import EmailBackend
from smtpconfig.exceptions import ProfileNotFound, SecretUnreadable
from smtpconfig.models import Security

from .helpers import PASSWORD, USER
from .smtpd import free_port, running_smtp_server

BACKEND = "smtpconfig.backends.EmailBackend"
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("use_backend")]


def test_send_mail_goes_through_the_default_profile_as_display_name(plain_server, make_profile):
    make_profile(port=plain_server.port)
    sent = mail.send_mail("Hello", "Body", None, ["to@example.org"])
    assert sent == 1
    received = plain_server.messages[0]
    assert received.mail_from == "noreply@example.com"
    assert received.message["From"] == "Example Site <noreply@example.com>"


def test_explicit_sender_is_kept(plain_server, make_profile):
    make_profile(port=plain_server.port)
    mail.send_mail("Hello", "Body", "Someone Else <other@example.com>", ["to@example.org"])
    assert plain_server.messages[0].message["From"] == "Someone Else <other@example.com>"


def test_non_ascii_display_name_is_encoded_in_the_header(plain_server, make_profile):
    make_profile(port=plain_server.port, from_name="Служба поддержки")
    mail.send_mail("Hello", "Body", None, ["to@example.org"])
    received = plain_server.messages[0]
    assert b"=?utf-8?" in received.data
    assert received.message["From"].addresses[0].display_name == "Служба поддержки"


def test_reply_to_of_the_profile_is_added_when_the_message_has_none(plain_server, make_profile):
    make_profile(port=plain_server.port, reply_to="help@example.com")
    mail.send_mail("Hello", "Body", None, ["to@example.org"])
    assert plain_server.messages[0].message["Reply-To"] == "help@example.com"


def test_message_object_is_left_as_the_caller_made_it(plain_server, make_profile, settings):
    make_profile(port=plain_server.port)
    message = EmailMessage("Hi", "Body", to=["to@example.org"])
    message.send()
    assert message.from_email == settings.DEFAULT_FROM_EMAIL
    assert message.reply_to == []


def test_named_profile_is_used(plain_server, make_profile):
    with running_smtp_server() as other:
        make_profile(port=plain_server.port)
        make_profile(
            name="Alerts", port=other.port, is_default=False, from_email="alerts@example.com"
        )
        connection = get_connection(profile="Alerts")
        mail.send_mail("Alert", "Body", None, ["ops@example.org"], connection=connection)
        assert plain_server.messages == []
        assert other.messages[0].mail_from == "alerts@example.com"


def test_unknown_or_disabled_profile_is_a_clear_configuration_error(make_profile):
    make_profile(name="Main")
    make_profile(name="Off", enabled=False, is_default=False)
    with pytest.raises(ProfileNotFound, match="no SMTP profile named “Nope”.*Main"):
        get_connection(profile="Nope")
    with pytest.raises(ProfileNotFound, match="disabled"):
        get_connection(profile="Off")


def test_profile_with_starttls_and_auth_and_unicode_password(starttls_server, make_profile, ca_pem):
    make_profile(
        host="localhost",
        port=starttls_server.port,
        security=Security.STARTTLS,
        username=USER,
        password=PASSWORD,
        ca_certificate=ca_pem,
    )
    assert mail.send_mail("Hi", "Body", None, ["to@example.org"]) == 1
    assert starttls_server.messages[0].auth_login == USER


def test_profile_with_implicit_tls(ssl_server, make_profile, ca_pem):
    make_profile(
        port=ssl_server.port,
        security=Security.SSL,
        username=USER,
        password=PASSWORD,
        ca_certificate=ca_pem,
    )
    backend = get_connection()
    assert (backend.use_ssl, backend.use_tls) == (True, False)
    assert mail.send_mail("Hi", "Body", None, ["to@example.org"], connection=backend) == 1


def test_certificate_is_verified_by_default(ssl_server, make_profile):
    make_profile(port=ssl_server.port, security=Security.SSL, username=USER, password=PASSWORD)
    with pytest.raises(ssl_error_types()):
        mail.send_mail("Hi", "Body", None, ["to@example.org"])
    assert ssl_server.messages == []


def ssl_error_types():
    import ssl

    return (ssl.SSLCertVerificationError,)


def test_explicit_arguments_win_over_the_profile_even_when_empty_or_false(make_profile):
    make_profile(
        host="smtp.profile.test",
        port=465,
        security=Security.SSL,
        username="profile-user",
        password="profile-pass",
        timeout=7,
    )
    backend = EmailBackend(host="", port=0, username="", password="", use_ssl=False, timeout=0)
    assert (backend.host, backend.port, backend.username, backend.password) == ("", 0, "", "")
    assert (backend.use_ssl, backend.use_tls, backend.timeout) == (False, False, 0)

    partly = EmailBackend(use_tls=True)
    assert (partly.use_tls, partly.use_ssl) == (True, False)
    assert (partly.host, partly.port, partly.username) == ("smtp.profile.test", 465, "profile-user")
    assert partly.password == "profile-pass"


def test_explicit_arguments_reach_the_server(plain_server, make_profile):
    make_profile(port=free_port())  # nothing listens on the profile's port
    connection = get_connection(host="127.0.0.1", port=plain_server.port)
    assert mail.send_mail("Hi", "Body", None, ["to@example.org"], connection=connection) == 1


def test_without_enabled_profile_falls_back_to_email_settings_with_a_warning(
    plain_server, make_profile, settings, caplog
):
    import smtpconfig.backends as backends

    backends._last_fallback_warning = 0.0
    make_profile(enabled=False, is_default=False)
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", plain_server.port
    settings.DEFAULT_FROM_EMAIL = "site@example.com"
    with caplog.at_level(logging.WARNING, logger="smtpconfig"):
        assert mail.send_mail("Hi", "Body", None, ["to@example.org"]) == 1
    assert "No enabled SMTP profile" in caplog.text
    assert "SMTP profiles" in caplog.text
    assert plain_server.messages[0].mail_from == "site@example.com"


def test_a_saved_change_is_used_for_the_next_message_without_restart(make_profile):
    with running_smtp_server() as first, running_smtp_server() as second:
        profile = make_profile(port=first.port)
        mail.send_mail("One", "Body", None, ["to@example.org"])
        profile.port = second.port
        profile.from_name = "Renamed"
        profile.save()
        mail.send_mail("Two", "Body", None, ["to@example.org"])
        assert [m.message["Subject"] for m in first.messages] == ["One"]
        assert second.messages[0].message["From"] == "Renamed <noreply@example.com>"


def test_unreadable_password_fails_the_send_with_a_message_naming_the_profile(
    make_profile, settings, auth_server
):
    make_profile(port=auth_server.port, username=USER, password=PASSWORD)
    settings.SMTPCONFIG = {"ENCRYPTION_KEYS": ["Mq8hQZ2y4cmG4gGd1o5sbsXsJ6wJ6oKXoqxvjZ3nQ0M="]}
    backend = get_connection()  # building the backend does not fail
    with pytest.raises(SecretUnreadable, match="“Main”.*type the password again"):
        mail.send_mail("Hi", "Body", None, ["to@example.org"], connection=backend)
    # A configuration error is not swallowed by fail_silently.
    with pytest.raises(SecretUnreadable):
        mail.send_mail("Hi", "Body", None, ["to@example.org"], fail_silently=True)
    assert auth_server.messages == []


def test_send_failure_raises_unless_fail_silently(make_profile):
    make_profile(port=free_port())
    with pytest.raises(ConnectionRefusedError):
        mail.send_mail("Hi", "Body", None, ["to@example.org"])
    assert mail.send_mail("Hi", "Body", None, ["to@example.org"], fail_silently=True) == 0


def test_wrong_password_raises_smtp_authentication_error(auth_server, make_profile):
    make_profile(port=auth_server.port, username=USER, password="wrong")
    with pytest.raises(smtplib.SMTPAuthenticationError):
        mail.send_mail("Hi", "Body", None, ["to@example.org"])


def test_opening_a_connection_after_the_first_only_checks_freshness(
    make_profile, django_assert_num_queries, monkeypatch
):
    from smtpconfig import crypto
    from smtpconfig.delivery import profiles as routing

    make_profile(password="s3cret")
    get_connection()  # the first in this process loads and decrypts the profiles
    checks, decryptions = [], []
    real_fetch, real_decrypt = routing._fetch_generation, crypto.decrypt
    monkeypatch.setattr(routing, "_fetch_generation", lambda *a: checks.append(a) or real_fetch(*a))
    monkeypatch.setattr(crypto, "decrypt", lambda t: decryptions.append(t) or real_decrypt(t))
    # The one small freshness query runs on the DB-API cursor, which Django's counter
    # does not see; nothing else touches the database.
    with django_assert_num_queries(0):
        backend = get_connection()
    assert backend.profile.name == "Main" and backend.password == "s3cret"
    assert len(checks) == 1
    assert decryptions == []


def test_with_a_shared_cache_opening_makes_no_query(
    make_profile, settings, django_assert_num_queries
):
    settings.SMTPCONFIG = {**settings.SMTPCONFIG, "CACHE": "default"}
    profile = make_profile()
    get_connection()
    with django_assert_num_queries(0):
        assert get_connection().profile.name == "Main"
    profile.from_name = "Changed"
    profile.save()  # announces the change through the cache
    assert get_connection().profile.settings.from_name == "Changed"


def test_sending_through_an_open_connection_makes_no_settings_query(
    plain_server, make_profile, settings, django_assert_num_queries
):
    settings.SMTPCONFIG = {**settings.SMTPCONFIG, "DELIVERY_LOG": False}
    make_profile(port=plain_server.port)
    messages = [EmailMessage(f"Message {n}", "Body", to=["to@example.org"]) for n in range(20)]
    with get_connection() as connection, django_assert_num_queries(0):
        assert connection.send_messages(messages) == 20
    assert len(plain_server.messages) == 20
