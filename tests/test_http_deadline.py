"""One deadline for a whole HTTP request (an OAuth2 token's), not only a timeout per wait.

The server here reads the request, then drips its answer a byte at a time, each byte
well inside the 1 s timeout: without a deadline the request would last a minute.
"""

import socket
import threading
from contextlib import contextmanager

import pytest

from smtpconfig.exceptions import ConversationTimeout
from smtpconfig.transport.deadline import Budget, within
from smtpconfig.transport.oauth_client import request_token

ANSWER = (
    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 60\r\n\r\n"
    + b'{"access_token": "never-read", "token_type": "Bearer"}'.ljust(60)
)


@contextmanager
def dripping_http_server():
    """An HTTP server on 127.0.0.1 that sends its answer one byte every 0.4 s."""
    sock = socket.create_server(("127.0.0.1", 0))
    sock.settimeout(0.1)
    stop = threading.Event()

    def answer(connection: socket.socket) -> None:
        with connection:
            connection.settimeout(5)
            try:
                connection.recv(65536)
                for byte in ANSWER:
                    if stop.wait(0.4):
                        return
                    connection.sendall(bytes([byte]))
            except OSError:
                return  # the client hung up: what the test expects

    def serve() -> None:
        while not stop.is_set():
            try:
                connection, _peer = sock.accept()
            except OSError:
                continue
            threading.Thread(target=answer, args=(connection,), daemon=True).start()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield sock.getsockname()[1]
    finally:
        stop.set()
        thread.join(2)
        sock.close()


@pytest.fixture
def http_allowed(settings):
    settings.SMTPCONFIG = {**settings.SMTPCONFIG, "OAUTH_ALLOW_HTTP": True}


def ask(port: int):
    return request_token(
        f"http://127.0.0.1:{port}/token",
        grant_type="client_credentials",
        client_id="client",
        client_secret="secret",
        timeout=1,
    )


@pytest.mark.usefixtures("http_allowed")
def test_a_token_request_has_a_deadline_of_its_own():
    """Three times the timeout, as a conversation: the answer that drips is cut off."""
    with dripping_http_server() as port, pytest.raises(ConversationTimeout) as raised:
        ask(port)
    assert raised.value.kind == "http"
    assert raised.value.seconds == 3


@pytest.mark.usefixtures("http_allowed")
def test_a_token_request_within_a_test_ends_with_the_tests_deadline():
    """Inside a test (the Token step), the test's own deadline is the one that counts."""
    with (
        dripping_http_server() as port,
        pytest.raises(ConversationTimeout) as raised,
        within(Budget.start(1.5, "test")),
    ):
        ask(port)
    assert raised.value.kind == "test"
    assert "whole test" in str(raised.value)
