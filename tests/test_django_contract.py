"""Django's SMTP backend contract, which ours (a subclass) must keep (issue 11).

Each test is a behaviour of django.core.mail.backends.smtp.EmailBackend that
Django's own suite (tests/mail/) checks, run against our backend and a real
SMTP server on 127.0.0.1.
"""

import gc
import socket
import threading
import warnings

import pytest
from django.core import mail
from django.utils.translation import gettext_lazy

from smtpconfig.models import DeliveryLog

from .conftest import PASSWORD, USER
from .smtpd import free_port, running_smtp_server

pytestmark = pytest.mark.django_db

BACKEND = "smtpconfig.backends.EmailBackend"


@pytest.fixture(autouse=True)
def our_backend(settings):
    settings.EMAIL_BACKEND = BACKEND


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


class CountingServer:
    """Greets, offers AUTH, refuses every login, and counts connections the client left
    open (a socket the client never closed is a leak)."""

    def __init__(self, starttls_reply: bytes = b""):
        self.starttls_reply = starttls_reply
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(0.1)
        self.port = self.listener.getsockname()[1]
        self.open_connections = 0
        self.accepted = 0
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self):
        while not self.stop.is_set():
            try:
                connection, _ = self.listener.accept()
            except OSError:
                continue
            with self.lock:
                self.accepted += 1
                self.open_connections += 1
            threading.Thread(target=self.talk, args=(connection,), daemon=True).start()

    def talk(self, connection):
        replies = {
            b"EHLO": b"250-counting.test\r\n250-STARTTLS\r\n250 AUTH PLAIN LOGIN\r\n",
            b"AUTH": b"535 5.7.8 Authentication credentials invalid\r\n",
            # 454: refused; 220 then plain text: a handshake that fails.
            b"STARTTLS": self.starttls_reply,
            b"QUIT": b"221 Bye\r\n",
        }
        with connection:
            connection.settimeout(10)
            connection.sendall(b"220 counting.test ESMTP\r\n")
            buffer = b""
            try:
                while True:
                    chunk = connection.recv(4096)
                    if not chunk:
                        break
                    buffer += chunk
                    while b"\r\n" in buffer:
                        line, buffer = buffer.split(b"\r\n", 1)
                        connection.sendall(replies.get(line.split(b" ")[0].upper(), b"502 no\r\n"))
            except OSError:
                pass
        with self.lock:
            self.open_connections -= 1

    def close(self):
        self.stop.set()
        self.thread.join(2)
        self.listener.close()


def wait_until(condition, seconds=3.0):
    import time

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and not condition():
        time.sleep(0.02)
    return condition()


@pytest.fixture
def counting_server():
    server = CountingServer()
    yield server
    server.close()


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
    counting_server = CountingServer(starttls_reply)
    make_profile(
        port=counting_server.port,
        username=USER,
        password=PASSWORD,
        security=security,
        timeout=1,
    )
    backend = mail.get_connection(fail_silently=True)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        for _ in range(3):
            assert not backend.open()  # connected, then the login was refused
        backend.close()
        gc.collect()
    assert counting_server.accepted >= 1
    assert wait_until(lambda: counting_server.open_connections == 0), (
        f"{counting_server.open_connections} connection(s) left open by the client"
    )
    counting_server.close()
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
