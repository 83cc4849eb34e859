"""The probe against real SMTP servers on 127.0.0.1: each step, each common failure."""

import time

import pytest

from smtpconfig.models import Security
from smtpconfig.probe import ProbeSettings, run_probe

from .helpers import PASSWORD, USER
from .smtpd import RecordingHandler, free_port, running_smtp_server, scripted_server

RECIPIENT = "someone@example.org"


def settings_for(server, **overrides) -> ProbeSettings:
    values = {
        "host": "127.0.0.1",
        "port": server.port,
        "security": Security.NONE,
        "from_email": "noreply@example.com",
        "from_name": "Example Site",
        "timeout": 5,
        "allow_plaintext_auth": True,  # loopback test servers; the refusal has its own test
    }
    values.update(overrides)
    return ProbeSettings(**values)


def step_names(report):
    return [step.name for step in report.steps]


def test_plain_server_accepts_and_every_step_is_reported(plain_server):
    report = run_probe(settings_for(plain_server), RECIPIENT)
    assert report.ok and report.sent
    assert step_names(report) == ["resolve", "connect", "ehlo", "mail", "rcpt", "data"]
    assert all(step.ok and step.duration >= 0 for step in report.steps)
    assert report.final_reply.startswith("250")
    assert report.queue_id == "TEST0001"
    assert "250" in report.summary()
    received = plain_server.messages[0]
    assert received.rcpt_tos == [RECIPIENT]
    assert received.message["From"] == "Example Site <noreply@example.com>"


def test_check_without_sending_delivers_nothing(plain_server):
    report = run_probe(settings_for(plain_server), RECIPIENT, send=False)
    assert report.ok and not report.sent
    assert step_names(report)[-1] == "rcpt"
    assert plain_server.messages == []


@pytest.mark.parametrize("mechanism", ["PLAIN", "LOGIN"])
def test_auth_with_non_ascii_password(mechanism):
    with running_smtp_server(users={USER: PASSWORD}, auth_mechanisms=(mechanism,)) as server:
        report = run_probe(settings_for(server, username=USER, password=PASSWORD), RECIPIENT)
        assert report.ok, report.summary()
        assert report.auth_mechanism == mechanism
        assert server.authenticator.attempts == [(mechanism, USER)]
        assert server.messages[0].auth_login == USER


def test_starttls_verifies_the_certificate_with_the_profiles_ca(starttls_server, ca_pem):
    settings = settings_for(
        starttls_server,
        host="localhost",
        security=Security.STARTTLS,
        username=USER,
        password=PASSWORD,
        ca_certificate=ca_pem,
    )
    report = run_probe(settings, RECIPIENT)
    assert report.ok, report.summary()
    assert step_names(report) == [
        "resolve",
        "connect",
        "ehlo",
        "tls",
        "auth",
        "mail",
        "rcpt",
        "data",
    ]
    assert report.tls["version"].startswith("TLS")
    assert "localhost" in report.certificate["names"]


def test_implicit_tls(ssl_server, ca_pem):
    settings = settings_for(
        ssl_server, security=Security.SSL, username=USER, password=PASSWORD, ca_certificate=ca_pem
    )
    report = run_probe(settings, RECIPIENT)
    assert report.ok, report.summary()
    assert step_names(report)[:3] == ["resolve", "connect", "tls"]
    assert len(ssl_server.messages) == 1


def failed(report):
    assert not report.ok
    return report.failed_step.name, report.diagnosis.code


def test_host_not_found():
    settings = ProbeSettings(host="no-such-host.invalid", port=25, from_email="a@example.com")
    report = run_probe(settings, RECIPIENT)
    assert failed(report) == ("resolve", "host_not_found")
    assert report.diagnosis.field == "host"


def test_connection_refused_suggests_the_standard_port():
    settings = ProbeSettings(
        host="127.0.0.1", port=free_port(), security=Security.STARTTLS, from_email="a@x.org"
    )
    report = run_probe(settings, RECIPIENT)
    assert failed(report) == ("connect", "connection_refused")
    assert (report.diagnosis.field, report.diagnosis.suggestion) == ("port", 587)


def test_ssl_on_a_plain_port_says_wrong_version_and_suggests_starttls(plain_server):
    report = run_probe(settings_for(plain_server, security=Security.SSL), RECIPIENT)
    assert failed(report) == ("tls", "ssl_on_plain_port")
    assert "wrong version number" in report.diagnosis.problem
    assert (report.diagnosis.field, report.diagnosis.suggestion) == ("security", "starttls")


def test_starttls_on_an_implicit_tls_port_suggests_ssl_within_the_timeout(ssl_server):
    started = time.monotonic()
    report = run_probe(settings_for(ssl_server, security=Security.STARTTLS, timeout=1), RECIPIENT)
    assert time.monotonic() - started < 1 + 1
    assert failed(report) == ("ehlo", "no_greeting")
    assert (report.diagnosis.field, report.diagnosis.suggestion) == ("security", "ssl")


def test_silent_port_is_a_verdict_within_timeout_plus_one_second():
    with scripted_server(b"") as silent:
        port = silent.port
        started = time.monotonic()
        report = run_probe(ProbeSettings(host="127.0.0.1", port=port, timeout=1), RECIPIENT)
        assert time.monotonic() - started < 2
    assert failed(report) == ("ehlo", "no_greeting")


def test_starttls_not_offered_stops_before_any_credential(plain_server):
    report = run_probe(
        settings_for(plain_server, security=Security.STARTTLS, username=USER, password=PASSWORD),
        RECIPIENT,
    )
    assert failed(report) == ("tls", "starttls_not_offered")
    assert "auth" not in step_names(report)
    assert plain_server.messages == []


def test_untrusted_certificate_offers_a_custom_ca(ssl_server):
    report = run_probe(settings_for(ssl_server, security=Security.SSL), RECIPIENT)
    assert failed(report) == ("tls", "certificate_untrusted")
    assert report.diagnosis.field == "ca_certificate"


def server_context_for(test_ca, *names, **dates):
    import ssl

    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    test_ca.issue_cert(*names, **dates).configure_cert(context)
    return context


def test_certificate_for_another_name_lists_the_names_it_holds(test_ca, ca_pem):
    """Listed, not suggested: mail.other.test does not resolve (tests/test_certificate_names.py)."""
    context = server_context_for(test_ca, "mail.other.test")
    with running_smtp_server(implicit_tls_context=context) as server:
        report = run_probe(
            settings_for(server, security=Security.SSL, ca_certificate=ca_pem), RECIPIENT
        )
    assert failed(report) == ("tls", "certificate_name_mismatch")
    assert "mail.other.test" in report.diagnosis.problem
    assert report.diagnosis.suggestion is None
    assert report.certificate["names"] == ["mail.other.test"]


def test_expired_certificate_says_when(test_ca, ca_pem):
    import datetime

    context = server_context_for(
        test_ca,
        "localhost",
        "127.0.0.1",
        not_before=datetime.datetime(2020, 1, 1, tzinfo=datetime.UTC),
        not_after=datetime.datetime(2021, 6, 30, tzinfo=datetime.UTC),
    )
    with running_smtp_server(starttls_context=context) as server:
        report = run_probe(
            settings_for(server, security=Security.STARTTLS, ca_certificate=ca_pem), RECIPIENT
        )
    assert failed(report) == ("tls", "certificate_expired")
    assert "2021-06-30" in report.diagnosis.problem
    assert report.certificate["expired"] is True


def test_connection_timeout_suggests_another_port_within_timeout_plus_one_second():
    from .smtpd import blackhole_port

    with blackhole_port() as port:
        started = time.monotonic()
        report = run_probe(ProbeSettings(host="127.0.0.1", port=port, timeout=1), RECIPIENT)
        elapsed = time.monotonic() - started
    assert elapsed < 1 + 1
    assert failed(report) == ("connect", "connection_timeout")
    assert report.diagnosis.suggestion in (587, 465)


def test_421_greeting_is_temporary_not_a_settings_problem():
    from .smtpd import scripted_server

    with scripted_server(b"421 4.3.2 Service not available, closing channel\r\n") as server:
        report = run_probe(ProbeSettings(host="127.0.0.1", port=server.port, timeout=2), RECIPIENT)
    assert failed(report) == ("ehlo", "temporary_failure")
    assert report.diagnosis.temporary is True
    assert "421" in report.diagnosis.problem


def test_message_larger_than_announced_size_is_not_sent():
    with running_smtp_server(data_size_limit=200) as server:
        report = run_probe(settings_for(server), RECIPIENT)
        assert failed(report) == ("data", "message_too_large")
        assert "SIZE 200" in report.capabilities
        assert server.messages == []


def test_ehlo_step_lists_the_servers_capabilities(auth_server):
    report = run_probe(settings_for(auth_server, username=USER, password=PASSWORD), RECIPIENT)
    ehlo = next(step for step in report.steps if step.name == "ehlo")
    assert "AUTH LOGIN PLAIN" in ehlo.detail and "8BITMIME" in ehlo.detail


@pytest.mark.parametrize("mechanism", ["PLAIN", "LOGIN"])
def test_transcript_masks_every_credential(mechanism):
    import base64

    with running_smtp_server(users={USER: PASSWORD}, auth_mechanisms=(mechanism,)) as server:
        report = run_probe(settings_for(server, username=USER, password=PASSWORD), RECIPIENT)
    transcript = "\n".join(report.transcript)
    assert report.ok
    assert f"C: AUTH {mechanism} ****" in transcript
    assert "S: 235" in transcript
    for secret in (PASSWORD, USER):
        assert secret not in transcript.split("C: MAIL")[0].split("C: AUTH")[1]
        encoded = base64.b64encode(secret.encode()).decode()
        assert encoded not in transcript
    assert base64.b64encode(f"\0{USER}\0{PASSWORD}".encode()).decode() not in transcript
    assert "C: <message," in transcript
    assert "Subject:" not in transcript


def test_failed_conversation_keeps_its_transcript(auth_server):
    report = run_probe(settings_for(auth_server, username=USER, password="Wr0ng-99"), RECIPIENT)
    assert not report.ok
    assert report.transcript[0].startswith("S: 220")
    assert any(line.startswith("S: 535") for line in report.transcript)
    assert "Wr0ng-99" not in "\n".join(report.transcript)


def test_verification_off_accepts_an_untrusted_certificate(ssl_server):
    report = run_probe(
        settings_for(ssl_server, security=Security.SSL, verify_certificate=False), RECIPIENT
    )
    assert report.ok, report.summary()
    assert report.certificate["names"]  # still read, so it can be shown


def test_wrong_password_is_an_auth_failure_naming_the_password(auth_server):
    report = run_probe(settings_for(auth_server, username=USER, password="wrong"), RECIPIENT)
    assert failed(report) == ("auth", "auth_failed")
    assert report.failed_step.reply_code == 535
    assert report.diagnosis.field == "password"
    assert auth_server.messages == []


def test_gmail_app_password_reply_gets_googles_real_fix():
    with running_smtp_server(
        users={USER: PASSWORD},
        auth_failure_reply="534 5.7.9 Application-specific password required. gsmtp",
    ) as server:
        report = run_probe(settings_for(server, username=USER, password="normal"), RECIPIENT)
    assert failed(report) == ("auth", "gmail_auth")
    assert "app password" in report.diagnosis.fix
    assert "2-Step Verification" in report.diagnosis.fix
    assert "turn 2-Step Verification off" in report.diagnosis.fix  # ...do not


def test_microsoft_smtp_auth_disabled_reply_gets_the_admin_fix():
    reply = (
        "535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled "
        "for the Tenant."
    )
    # The tenant refuses password logins, so even the right password is refused.
    with running_smtp_server(users={}, auth_failure_reply=reply) as server:
        report = run_probe(settings_for(server, username=USER, password=PASSWORD), RECIPIENT)
    assert failed(report) == ("auth", "microsoft365_auth")
    assert "Authenticated SMTP" in report.diagnosis.fix


def test_yahoo_rejection_is_recognised_by_the_providers_host_name(settings):
    from .dnsd import Zone, running_dns_server

    # A DNS server on 127.0.0.1 says smtp.mail.yahoo.com is this machine.
    zone = Zone({("smtp.mail.yahoo.com", "A"): ["127.0.0.1"]})
    with running_dns_server(zone) as dns, running_smtp_server(users={USER: PASSWORD}) as server:
        settings.SMTPCONFIG = {**settings.SMTPCONFIG, "DNS_NAMESERVERS": [dns]}
        report = run_probe(
            settings_for(server, host="smtp.mail.yahoo.com", username=USER, password="normal"),
            RECIPIENT,
        )
    assert report.steps[0].detail == "127.0.0.1"
    assert failed(report) == ("auth", "yahoo_auth")
    assert "app password" in report.diagnosis.fix


def test_host_that_times_out_in_dns_is_a_resolve_failure(settings):
    from .dnsd import Zone, running_dns_server

    with running_dns_server(Zone({}, silent=("slow.test",))) as dns:
        settings.SMTPCONFIG = {**settings.SMTPCONFIG, "DNS_NAMESERVERS": [dns]}
        started = time.monotonic()
        report = run_probe(ProbeSettings(host="smtp.slow.test", port=25, timeout=1), RECIPIENT)
        assert time.monotonic() - started < 2
    assert failed(report) == ("resolve", "dns_timeout")


def test_username_without_password_is_reported_before_contacting_auth(auth_server):
    report = run_probe(settings_for(auth_server, username=USER, password=""), RECIPIENT)
    assert failed(report) == ("auth", "password_missing")
    assert auth_server.authenticator.attempts == []


def test_auth_not_offered_on_plain_connection_suggests_encryption(starttls_server):
    # This server offers AUTH only after STARTTLS.
    report = run_probe(settings_for(starttls_server, username=USER, password=PASSWORD), RECIPIENT)
    assert failed(report) == ("auth", "auth_not_offered")
    assert report.diagnosis.suggestion == "starttls"


@pytest.mark.parametrize(
    ("reply_field", "reply", "step", "code"),
    [
        ("mail_reply", "553 5.7.1 Sender address not owned by user", "mail", "sender_rejected"),
        ("rcpt_reply", "550 5.1.1 No such user here", "rcpt", "recipient_rejected"),
        ("rcpt_reply", "554 5.7.1 Relay access denied", "rcpt", "relay_denied"),
        ("data_reply", "552 5.3.4 Message size exceeds fixed limit", "data", "message_too_large"),
        ("rcpt_reply", "451 4.3.0 Try again later", "rcpt", "temporary_failure"),
        ("mail_reply", "530 5.7.0 Authentication required", "mail", "auth_required"),
    ],
)
def test_server_refusals_are_named_with_their_fix(reply_field, reply, step, code):
    handler = RecordingHandler(**{reply_field: reply})
    with running_smtp_server(handler=handler) as server:
        report = run_probe(settings_for(server), RECIPIENT)
    assert failed(report) == (step, code)
    assert report.failed_step.reply_code == int(reply[:3])
    assert reply[4:] in report.failed_step.detail
    assert report.diagnosis.problem and report.diagnosis.fix


def test_report_as_dict_is_json_ready_and_has_no_password(auth_server):
    import json

    report = run_probe(settings_for(auth_server, username=USER, password=PASSWORD), RECIPIENT)
    text = json.dumps(report.as_dict(), default=str)
    assert PASSWORD not in text
    assert json.loads(text)["steps"][0]["label"] == "Resolve host"
