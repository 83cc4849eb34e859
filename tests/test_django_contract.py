"""Django's SMTP backend contract, which ours (a subclass) must keep (issue 11).

Each test is a behaviour of django.core.mail.backends.smtp.EmailBackend that
Django's own suite (tests/mail/) checks, run against our backend and a real
SMTP server on 127.0.0.1.
"""

import gc
import warnings

import pytest
from django.core import mail
from django.utils.translation import gettext_lazy

from smtpconfig.models import DeliveryLog

from .helpers import PASSWORD, USER
from .smtpd import free_port, running_smtp_server, scripted_server

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("use_backend")]

BACKEND = "smtpconfig.backends.EmailBackend"


def test_lazy_translation_strings_as_addresses_are_sent_once_and_logged(make_profile, plain_server):
    make_profile(port=plain_server.port)
    sent = mail.send_mail(
        gettext_lazy("Subject"),
        gettext_lazy("Body"),
        gettext_lazy("sender@example.com"),
        [gettext_lazy("to@example.com")],
    )
    assert sent == 1
    assert len(plain_server.messages) == 1
    [row] = DeliveryLog.objects.all()
    assert row.outcome == "sent"
    assert row.recipients == "to@example.com"
    assert row.sender == "sender@example.com"


def refusing_server(starttls_reply: bytes = b""):
    """Greets, offers STARTTLS and AUTH, refuses every login (and, as told, STARTTLS)."""
    return scripted_server(
        b"220 refusing.test ESMTP\r\n",
        {
            b"EHLO": b"250-refusing.test\r\n250-STARTTLS\r\n250 AUTH PLAIN LOGIN\r\n",
            b"AUTH": b"535 5.7.8 Authentication credentials invalid\r\n",
            # 454: refused; 220 then plain text: a handshake that fails.
            b"STARTTLS": starttls_reply,
            b"QUIT": b"221 Bye\r\n",
        },
    )


def wait_until(condition, seconds=3.0):
    import time

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and not condition():
        time.sleep(0.02)
    return condition()


@pytest.mark.parametrize(
    "security, starttls_reply",
    [
        ("none", b""),
        ("starttls", b"454 4.7.0 TLS not available\r\n"),
        ("starttls", b"220 Go ahead\r\nthis is not TLS\r\n"),
    ],
    ids=["login-refused", "starttls-refused", "tls-handshake-fails"],
)
def test_a_connection_that_fails_half_way_through_open_is_not_leaked(
    make_profile, security, starttls_reply
):
    with refusing_server(starttls_reply) as server:
        make_profile(
            port=server.port,
            username=USER,
            password=PASSWORD,
            security=security,
            timeout=1,
        )
        backend = mail.get_connection(fail_silently=True)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", ResourceWarning)
            for _ in range(3):
                assert not backend.open()  # connected, then STARTTLS or the login failed
            backend.close()
            gc.collect()
        assert len(server.connections) == 3  # each open() tried again, as Django's does
        # Every connection was closed by the client (the server waits 5 s for a silent one).
        assert wait_until(lambda: len(server.ended) == len(server.connections))
    assert not [w for w in caught if issubclass(w.category, ResourceWarning)]


def test_send_messages_after_a_failed_open_tries_again(make_profile):
    """Django's send_messages() opens the connection itself: a server that was down at
    open() and is up by send_messages() gets the message."""
    port = free_port()
    make_profile(port=port)
    backend = mail.get_connection(fail_silently=True)
    assert backend.open() is None  # nothing listens yet
    with running_smtp_server(port=port) as server:
        message = mail.EmailMessage("Hi", "Body", to=["to@example.org"])
        assert backend.send_messages([message]) == 1
        backend.close()
        assert len(server.messages) == 1


def test_send_messages_after_open_and_close_opens_again(make_profile, plain_server):
    make_profile(port=plain_server.port)
    backend = mail.get_connection()
    assert backend.open() is True
    backend.close()
    message = mail.EmailMessage("Hi", "Body", to=["to@example.org"])
    assert backend.send_messages([message]) == 1
    assert len(plain_server.messages) == 1
