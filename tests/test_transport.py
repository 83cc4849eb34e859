"""One road to the server (issue 11): the test and the site's mail resolve, connect and
log in the same way, through the configured nameservers, against real servers."""

import socket

import pytest
from django.core import mail

from smtpconfig.models import DeliveryLog
from smtpconfig.tester import run_test
from smtpconfig.transport.session import Recorder, open_session
from smtpconfig.transport.settings import ConnectionSettings, Security
from smtpconfig.transport.steps import Step, StepFailed

from .dnsd import Zone, running_dns_server
from .helpers import PASSWORD, USER

pytestmark = pytest.mark.django_db


@pytest.fixture
def only_our_nameserver(use_backend, settings):
    """A DNS server on 127.0.0.1 that knows smtp.agree.test (and nothing else)."""
    zone = Zone({("smtp.agree.test", "A"): ["127.0.0.1"]})
    with running_dns_server(zone) as address:
        settings.SMTPCONFIG = {**settings.SMTPCONFIG, "DNS_NAMESERVERS": [address]}
        yield


def test_the_test_and_the_site_mail_reach_a_name_only_the_nameservers_know(
    only_our_nameserver, make_profile, auth_server
):
    profile = make_profile(host="smtp.agree.test", port=auth_server.port, username=USER)
    profile.password = PASSWORD
    profile.save()
    report = run_test(profile.connection_settings(), "to@example.org")
    assert report.ok, report.summary()
    assert mail.send_mail("Hello", "Body", None, ["to@example.org"]) == 1
    assert len(auth_server.messages) == 2  # the test email and the site's message


def test_the_test_and_the_site_mail_agree_that_an_unknown_name_does_not_exist(
    only_our_nameserver, make_profile, plain_server
):
    profile = make_profile(host="smtp.unknown.test", port=plain_server.port)
    report = run_test(profile.connection_settings(), "to@example.org")
    assert report.failed_step.name == "resolve"
    with pytest.raises(socket.gaierror):
        mail.send_mail("Hello", "Body", None, ["to@example.org"])
    [row] = DeliveryLog.objects.all()
    assert row.tried[0]["step"] == "resolve"
    assert row.reply == report.diagnosis.problem  # the same words in the log and the test


def test_a_failure_carries_its_step_and_leaves_nothing_open(plain_server):
    settings = ConnectionSettings(
        host="127.0.0.1", port=plain_server.port, security=Security.STARTTLS, timeout=2
    )
    with pytest.raises(StepFailed) as failure:
        open_session(settings, recorder=Recorder())
    assert failure.value.step == Step.TLS  # the plain server offers no STARTTLS
    assert "STARTTLS" in str(failure.value.error)
