"""smtplib clients that authenticate with UTF-8 credentials.

The standard library encodes AUTH payloads as ASCII, so a password such as
``pässwörd`` fails with ``UnicodeEncodeError`` before anything reaches the
server. RFC 4616 (PLAIN) and common practice for LOGIN and CRAM-MD5 use
UTF-8; these subclasses do the same and remember which mechanism succeeded.
"""

from __future__ import annotations

import base64
import hmac
import io
import smtplib
import socket
import time

# Same bound as smtplib: a server that keeps challenging is broken.
_MAX_CHALLENGES = 5


def _b64(text: str) -> str:
    return base64.b64encode(text.encode("utf-8")).decode("ascii")


class UTF8AuthMixin:
    """Replaces :meth:`smtplib.SMTP.auth` with a UTF-8-clean equivalent."""

    #: The AUTH mechanism that succeeded, once :meth:`login` has returned.
    auth_mechanism: str | None = None

    def auth(self, mechanism, authobject, *, initial_response_ok=True):
        mechanism = mechanism.upper()
        initial_response = authobject() if initial_response_ok else None
        if initial_response is not None:
            code, reply = self.docmd("AUTH", f"{mechanism} {_b64(initial_response)}")
            self._auth_challenge_count = 1
        else:
            code, reply = self.docmd("AUTH", mechanism)
            self._auth_challenge_count = 0
        while code == 334:
            self._auth_challenge_count += 1
            challenge = base64.decodebytes(reply)
            code, reply = self.docmd(_b64(authobject(challenge)))
            if self._auth_challenge_count > _MAX_CHALLENGES:
                raise smtplib.SMTPException(
                    f"The server kept sending AUTH challenges; last reply: {code}"
                )
        if code in (235, 503):
            self.auth_mechanism = mechanism
            return code, reply
        raise smtplib.SMTPAuthenticationError(code, reply)

    def auth_cram_md5(self, challenge=None):
        if challenge is None:
            return None
        digest = hmac.HMAC(self.password.encode("utf-8"), challenge, "md5").hexdigest()
        return f"{self.user} {digest}"


class _DeadlineSocketIO(io.RawIOBase):
    """The socket under smtplib's reply reader, each reply within one deadline.

    A socket timeout bounds each read, not the reply: a server that sends its
    greeting a byte at a time stays under it forever. This raw stream sets the
    socket's timeout to what is left of the reply's deadline before each read;
    the C BufferedReader above it still splits the lines, so a reply that
    arrives in one piece costs one extra Python call.
    """

    def __init__(self, sock):
        super().__init__()
        self.sock = sock
        self.deadline: float | None = None

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        if self.deadline is not None:
            remaining = self.deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError("no complete reply in time")
            self.sock.settimeout(remaining)
        return self.sock.recv_into(buffer)


class ReplyDeadlineMixin:
    """Each server reply must arrive in full within the connection's timeout."""

    _reply_stream: _DeadlineSocketIO | None = None

    def getreply(self):
        timeout = getattr(self, "timeout", None)
        if self.sock is None or not isinstance(timeout, int | float) or timeout <= 0:
            return super().getreply()
        stream = self._reply_stream
        if self.file is None or stream is None or stream.sock is not self.sock:
            # New after connecting and after STARTTLS (smtplib drops self.file then).
            stream = self._reply_stream = _DeadlineSocketIO(self.sock)
            self.file = io.BufferedReader(stream)
        stream.deadline = time.monotonic() + timeout
        try:
            return super().getreply()
        finally:
            stream.deadline = None
            if self.sock is not None:
                self.sock.settimeout(timeout)


class PayloadTrackingMixin:
    """Knows whether the server may have the message.

    :attr:`payload_sent` turns true when the DATA command is sent: from then
    on a broken connection may have left the message with the server, so it
    is no reason to send it again elsewhere (a break before the 354 reply is
    counted too: rare, and a lost message is better than a second copy).
    Before then, the server cannot have it.
    """

    payload_sent = False
    #: The last command sent ("mail", "rcpt", "data"...), to name the step a failure was in.
    last_command = ""

    def putcmd(self, cmd, args=""):
        self.last_command = cmd.lower()
        return super().putcmd(cmd, args)

    def mail(self, sender, options=()):
        self.payload_sent = False
        return super().mail(sender, options)

    def data(self, msg):
        self.payload_sent = True
        #: The server's final reply to the message, as (code, text).
        self.last_data_reply = super().data(msg)
        return self.last_data_reply


class NetworkPolicyMixin:
    """Connects only to addresses the network policy allows (see smtpconfig.network_policy)."""

    def _get_socket(self, host, port, timeout):
        from ..network_policy import check_address

        if timeout is not None and not timeout:
            raise ValueError("Non-blocking socket (timeout=0) is not supported")
        last_error: OSError | None = None
        for family, socktype, proto, _name, sockaddr in socket.getaddrinfo(
            host, port, 0, socket.SOCK_STREAM
        ):
            try:
                check_address(host, str(sockaddr[0]))
            except OSError as exc:  # blocked: try the host's other addresses first
                last_error = exc
                continue
            sock = socket.socket(family, socktype, proto)
            try:
                if timeout is not socket._GLOBAL_DEFAULT_TIMEOUT:  # as create_connection does
                    sock.settimeout(timeout)
                if self.source_address:
                    sock.bind(self.source_address)
                sock.connect(sockaddr)
            except OSError as exc:
                sock.close()
                last_error = exc
                continue
            return self._wrap_socket(sock, host)
        raise last_error or OSError(f"no address for {host}")

    def _wrap_socket(self, sock, host):
        return sock


class SMTP(
    ReplyDeadlineMixin, PayloadTrackingMixin, UTF8AuthMixin, NetworkPolicyMixin, smtplib.SMTP
):
    """:class:`smtplib.SMTP` with UTF-8 authentication, payload tracking, network policy."""


class SMTP_SSL(  # noqa: N801
    ReplyDeadlineMixin, PayloadTrackingMixin, UTF8AuthMixin, NetworkPolicyMixin, smtplib.SMTP_SSL
):
    """:class:`smtplib.SMTP_SSL` (the name mirrors smtplib's) with the same additions."""

    def _wrap_socket(self, sock, host):
        # What smtplib.SMTP_SSL._get_socket does after connecting; a failure here is
        # the TLS step's, not the connection's (the backend names steps by this tag).
        try:
            return self.context.wrap_socket(sock, server_hostname=self._host)
        except OSError as exc:
            sock.close()
            exc.smtpconfig_step = "tls"
            raise


class TranscriptMixin:
    """Records the conversation, with every credential masked.

    The AUTH command's argument and each reply to a server challenge (334)
    are replaced by ``****``; the message itself is recorded by its size only.
    Goes before :class:`SMTP` in the bases, so it sees what is sent first.
    """

    MASK = "****"

    def _transcript(self) -> list[str]:
        if "transcript" not in self.__dict__:
            self.transcript: list[str] = []
            self._masking_auth = False
        return self.transcript

    _in_data = False

    def data(self, msg):
        self._in_data = True
        try:
            return super().data(msg)
        finally:
            self._in_data = False

    def send(self, s):
        transcript = self._transcript()
        text = s.decode("utf-8", "replace") if isinstance(s, bytes) else s
        if self._in_data and isinstance(s, bytes) and s.endswith(b"\r\n.\r\n"):
            transcript.append(f"C: <message, {len(s)} bytes>")
        elif text.upper().startswith("AUTH"):
            words = text.split()
            transcript.append(f"C: AUTH {words[1] if len(words) > 1 else ''} {self.MASK}")
            self._masking_auth = True
        elif self._masking_auth:
            transcript.append(f"C: {self.MASK}")
        else:
            transcript.append("C: " + text.rstrip("\r\n"))
        return super().send(s)

    def getreply(self):
        transcript = self._transcript()
        code, reply = super().getreply()
        lines = reply.decode("utf-8", "replace").splitlines() or [""]
        if code == 334:
            # A challenge may echo what the client sent; it is never shown.
            lines = [self.MASK]
        else:
            self._masking_auth = False
        for index, line in enumerate(lines):
            separator = "-" if index < len(lines) - 1 else " "
            transcript.append(f"S: {code}{separator}{line}")
        return code, reply


class PreconnectedSMTP(
    TranscriptMixin, ReplyDeadlineMixin, PayloadTrackingMixin, UTF8AuthMixin, smtplib.SMTP
):
    """An SMTP client over a socket the caller has already connected (and wrapped).

    The probe opens the TCP connection and does the TLS handshake itself, so
    that each is a step of its own with its own timing and error.
    """

    def __init__(self, sock, server_hostname: str, **kwargs):
        self._preconnected_socket = sock
        super().__init__(**kwargs)
        # smtplib sets this (the name STARTTLS verifies) only when __init__ connects.
        self._host = server_hostname

    def _get_socket(self, host, port, timeout):
        return self._preconnected_socket
