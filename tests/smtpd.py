"""Real SMTP servers on 127.0.0.1 for the tests and benchmarks (aiosmtpd).

Each server runs in its own thread at a free port and speaks real SMTP:
plain, STARTTLS or implicit TLS (with certificates from a throw-away CA),
with or without AUTH, and can be told to refuse a sender, a recipient or a
message the way real servers do.
"""

from __future__ import annotations

import base64
import logging
import socket
import ssl
import threading
from collections.abc import Callable
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

# aiosmtpd logs a deprecation on every login and a traceback for every TLS handshake a
# test makes fail on purpose; neither is news.
logging.getLogger("mail.log").setLevel(logging.CRITICAL)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Received:
    """A message as the server received it."""

    mail_from: str
    rcpt_tos: list[str]
    data: bytes
    auth_login: str | None

    @property
    def message(self) -> EmailMessage:
        return message_from_bytes(self.data, policy=policy.default)


@dataclass
class RecordingHandler:
    """Accepts (or refuses, as told) and records every message.

    Set ``mail_reply``, ``rcpt_reply`` or ``data_reply`` to an SMTP reply
    such as ``"550 5.1.1 No such user"`` to refuse at that step.
    """

    mail_reply: str | None = None
    rcpt_reply: str | None = None
    data_reply: str | None = None
    messages: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_MAIL(self, server, session, envelope, address, mail_options):  # noqa: N802
        if self.mail_reply:
            return self.mail_reply
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 2.1.0 Sender OK"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: N802
        if self.rcpt_reply:
            return self.rcpt_reply
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 Recipient OK"

    async def handle_DATA(self, server, session, envelope):  # noqa: N802
        if self.data_reply:
            return self.data_reply
        login = session.auth_data.login.decode() if session.auth_data else None
        with self.lock:
            self.messages.append(
                Received(envelope.mail_from, list(envelope.rcpt_tos), envelope.content, login)
            )
            number = len(self.messages)
        return f"250 2.0.0 Ok: queued as TEST{number:04d}"


class PasswordAuthenticator:
    """Accepts the given user names and passwords (compared as UTF-8).

    ``failure_reply`` replaces aiosmtpd's own 535 reply, to imitate a provider
    (for example Google's ``534 5.7.9 Application-specific password required``).
    """

    def __init__(self, users: dict[str, str], failure_reply: str | None = None):
        self.users = users
        self.failure_reply = failure_reply
        self.attempts: list[tuple[str, str]] = []

    def __call__(self, server, session, envelope, mechanism, auth_data):
        if not isinstance(auth_data, LoginPassword):
            return AuthResult(success=False, handled=False)
        login = auth_data.login.decode("utf-8", "replace")
        password = auth_data.password.decode("utf-8", "replace")
        self.attempts.append((mechanism, login))
        if self.users.get(login) == password:
            return AuthResult(success=True, auth_data=auth_data)
        return AuthResult(success=False, handled=False, message=self.failure_reply)


class OAuth2Handler(RecordingHandler):
    """A :class:`RecordingHandler` that also takes AUTH XOAUTH2 (SASL, as Google and
    Microsoft do): a known user with their token logs in; anything else gets the JSON
    error challenge, then ``failure_reply`` (Google's ``535 5.7.8`` unless told) once the
    client answers it. With ``close_on_failure`` the server hangs up after refusing (as
    some do), so the client must connect again."""

    def __init__(
        self,
        tokens: dict[str, str],
        *,
        failure_reply: str = "535 5.7.8 Username and Password not accepted (XOAUTH2)",
        close_on_failure: bool = False,
    ):
        super().__init__()
        self.tokens = tokens
        self.failure_reply = failure_reply
        self.close_on_failure = close_on_failure
        self.attempts: list[str] = []  # the user names that tried
        self.refused = 0  # how many logins were refused

    async def auth_XOAUTH2(self, server, args):  # noqa: N802 (aiosmtpd's hook name)
        try:
            fields = base64.b64decode(args[1]).decode("utf-8").split("\x01")
            user = fields[0].removeprefix("user=")
            token = fields[1].removeprefix("auth=Bearer ")
        except (IndexError, ValueError):
            return AuthResult(success=False, handled=False, message="501 5.5.2 Bad XOAUTH2")
        self.attempts.append(user)
        if self.tokens.get(user) == token:
            return AuthResult(success=True, auth_data=LoginPassword(user.encode(), b""))
        self.refused += 1
        await server.challenge_auth('{"status":"401","schemes":"bearer","scope":"mail"}')
        if self.close_on_failure:
            await server.push(self.failure_reply)
            server.transport.close()
            return AuthResult(success=False, handled=True)
        return AuthResult(success=False, handled=False, message=self.failure_reply)


@dataclass
class SMTPServer:
    """A running test server: where it is and what it received."""

    host: str
    port: int
    handler: RecordingHandler
    authenticator: PasswordAuthenticator | None
    controller: Controller

    @property
    def messages(self) -> list[Received]:
        return self.handler.messages


@contextmanager
def running_smtp_server(
    *,
    handler: RecordingHandler | None = None,
    users: dict[str, str] | None = None,
    auth_failure_reply: str | None = None,
    starttls_context: ssl.SSLContext | None = None,
    implicit_tls_context: ssl.SSLContext | None = None,
    require_starttls: bool = False,
    auth_require_tls: bool = False,
    auth_mechanisms: tuple[str, ...] | None = None,
    data_size_limit: int | None = None,
    host: str = "127.0.0.1",
    port: int | None = None,
):
    """Run an aiosmtpd server for the duration of the ``with`` block."""
    handler = handler or RecordingHandler()
    authenticator = PasswordAuthenticator(users, auth_failure_reply) if users is not None else None
    kwargs = {}
    if hasattr(handler, "auth_XOAUTH2") and authenticator is None:
        # XOAUTH2 only (the handler's own mechanism: OAuth2Handler, oauthd.XOAuth2Handler),
        # over plain text too for the tests.
        kwargs.update(auth_require_tls=auth_require_tls, auth_exclude_mechanism={"LOGIN", "PLAIN"})
    if authenticator:
        kwargs.update(authenticator=authenticator, auth_require_tls=auth_require_tls)
        if auth_mechanisms:
            # Offer only these mechanisms (aiosmtpd offers LOGIN and PLAIN by default).
            kwargs["auth_exclude_mechanism"] = {"LOGIN", "PLAIN"} - set(auth_mechanisms)
    if starttls_context:
        kwargs.update(tls_context=starttls_context, require_starttls=require_starttls)
    if data_size_limit:
        kwargs["data_size_limit"] = data_size_limit  # announced as SIZE in the EHLO reply
    controller = Controller(
        handler,
        hostname=host,
        port=port or free_port(),
        ssl_context=implicit_tls_context,
        ready_timeout=5.0,
        server_hostname="smtp.test",
        **kwargs,
    )
    controller.start()
    try:
        yield SMTPServer(host, controller.port, handler, authenticator, controller)
    finally:
        controller.stop()


@contextmanager
def blackhole_port():
    """A port on 127.0.0.1 where connect() never completes (a firewall that drops packets).

    The listening socket's backlog is filled and never accepted, so the
    kernel drops further connection attempts instead of refusing them.
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(0)
    port = sock.getsockname()[1]
    fillers = []
    for _ in range(8):
        filler = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        filler.setblocking(False)
        with suppress(BlockingIOError):
            filler.connect(("127.0.0.1", port))
        fillers.append(filler)
    try:
        yield port
    finally:
        for filler in fillers:
            filler.close()
        sock.close()


#: Replies of a plain, well-behaved server, for scripted_server.
PLAIN_REPLIES = {
    b"EHLO": b"250-scripted.test\r\n250 8BITMIME\r\n",
    b"HELO": b"250 scripted.test\r\n",
    b"MAIL": b"250 2.1.0 OK\r\n",
    b"RCPT": b"250 2.1.5 OK\r\n",
    b"DATA": b"354 End data with <CR><LF>.<CR><LF>\r\n",
    b"RSET": b"250 OK\r\n",
    b"NOOP": b"250 OK\r\n",
    b"QUIT": b"221 Bye\r\n",
}


#: A scripted server's own way of answering: called with the connection, the command line
#: it answers (b"" for the greeting) and the server's stop event (set when the test ends);
#: returns the reply it sent, if it was one reply (so that a 354 is followed by the message).
Action = Callable[[socket.socket, bytes, threading.Event], bytes | None]


def slowly(reply: bytes, seconds: float) -> Action:
    """An action that sends ``reply`` after ``seconds`` (sooner if the test ends)."""

    def act(connection: socket.socket, line: bytes, stop: threading.Event) -> bytes:
        stop.wait(seconds)
        connection.sendall(reply)
        return reply

    return act


@contextmanager
def scripted_server(
    greeting: bytes | Action,
    replies: dict[bytes, bytes | Action] | None = None,
    *,
    after_data: bytes | Action | None = b"250 2.0.0 OK\r\n",
    close_after_data: bool = False,
    host: str = "127.0.0.1",
    port: int = 0,
):
    """A raw TCP server that greets with ``greeting`` and answers commands from ``replies``.

    ``replies`` maps a command's first word (``b"EHLO"``) to the reply lines to
    send, or to an :data:`Action` that answers in its own way (slowly, at
    length, by echoing the command); ``b"*"`` answers any other line (such as
    the base64 an AUTH LOGIN sends), and a command with no entry ends the
    connection. After a 354 reply to DATA it reads the message, then sends
    ``after_data`` (None: no reply) and, with ``close_after_data``, drops the
    connection. For the behaviour aiosmtpd cannot be made to show (a 421
    greeting, a drop at a chosen moment, a hostile server). ``received`` on the
    yielded object holds the messages read, ``commands`` every command line,
    ``chunks`` what each read from the socket returned (so that a test can
    tell commands written together from commands written one at a time),
    ``connections`` the clients accepted (their addresses) and ``ended`` those
    whose conversation is over (a client that never hangs up ends after 5 s
    of silence). ``scripted_server(b"")`` is a server that never says a word.
    It listens on
    ``host`` (127.0.0.1 or ::1) at ``port`` (0: a free one).
    """
    replies = replies or {}
    received: list[bytes] = []
    commands: list[bytes] = []
    chunks: list[bytes] = []
    connections: list[tuple] = []
    ended: list[tuple] = []
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.bind((host, port))
    sock.listen(8)
    sock.settimeout(0.1)
    stop = threading.Event()

    def say(connection: socket.socket, reply: bytes | Action, line: bytes) -> bytes:
        if callable(reply):
            return reply(connection, line, stop) or b""
        connection.sendall(reply)
        return reply

    def talk(connection: socket.socket) -> None:
        connection.settimeout(5)
        say(connection, greeting, b"")
        buffer, in_data = b"", False
        while not stop.is_set():
            try:
                chunk = connection.recv(65536)
            except OSError:
                return
            if not chunk:
                return
            chunks.append(chunk)
            buffer += chunk
            while True:
                if in_data:
                    if b"\r\n.\r\n" not in buffer:
                        break
                    message, buffer = buffer.split(b"\r\n.\r\n", 1)
                    received.append(message)
                    in_data = False
                    if after_data is not None:
                        say(connection, after_data, b".")
                    if close_after_data or after_data is None:
                        return
                    continue
                if b"\r\n" not in buffer:
                    break
                line, buffer = buffer.split(b"\r\n", 1)
                commands.append(line)
                reply = replies.get(line.split(b" ")[0].upper(), replies.get(b"*"))
                if reply is None:
                    return
                in_data = say(connection, reply, line).startswith(b"354")

    def converse(connection: socket.socket, peer: tuple) -> None:
        # A client that hangs up mid-reply is what some tests are about, not an error.
        try:
            with connection, suppress(OSError):
                talk(connection)
        finally:
            ended.append(peer)

    def serve() -> None:
        while not stop.is_set():
            try:
                connection, peer = sock.accept()
            except OSError:
                continue
            connections.append(peer)
            threading.Thread(target=converse, args=(connection, peer), daemon=True).start()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield ScriptedServer(sock.getsockname()[1], received, commands, connections, ended, chunks)
    finally:
        stop.set()
        thread.join(2)
        sock.close()


@dataclass
class ScriptedServer:
    port: int
    received: list[bytes]
    commands: list[bytes] = field(default_factory=list)
    connections: list[tuple] = field(default_factory=list)
    ended: list[tuple] = field(default_factory=list)
    #: What each read from a client returned, in order (all connections together).
    chunks: list[bytes] = field(default_factory=list)
