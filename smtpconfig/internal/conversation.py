"""The part of an SMTP client that waits for the server and reads what it says.

:class:`ConversationMixin` goes first in the bases of every client in
:mod:`.smtp`: it bounds each whole reply by the timeout and reads it through
:func:`~.replies.read_reply` (capped and checked) and the client's
:class:`~.replies.SecretMask`.
"""

from __future__ import annotations

import io
import smtplib
import time

from ..exceptions import SMTPProtocolError
from .replies import read_reply


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


class ConversationMixin:
    """Each server reply in full within the timeout, and read only as far as it may go."""

    _reply_stream: _DeadlineSocketIO | None = None
    _greeting_pending = False

    def _timeout(self) -> float | None:
        timeout = getattr(self, "timeout", None)
        return float(timeout) if isinstance(timeout, int | float) and timeout > 0 else None

    def connect(self, host="localhost", port=0, source_address=None):
        self._greeting_pending = True  # the first reply is checked as a greeting
        return super().connect(host, port, source_address)

    def quit(self):
        # The goodbye decides nothing: a broken one still ends the session, as a
        # disconnection (which Django's backend expects from quit()), not an error.
        try:
            return super().quit()
        except SMTPProtocolError as exc:
            self.close()
            raise smtplib.SMTPServerDisconnected(str(exc)) from None

    def getreply(self):
        if self.sock is None:
            raise smtplib.SMTPServerDisconnected("please run connect() first")
        stream = self._reply_stream
        if self.file is None or stream is None or stream.sock is not self.sock:
            # New after connecting and after STARTTLS (smtplib drops self.file then).
            stream = self._reply_stream = _DeadlineSocketIO(self.sock)
            self.file = io.BufferedReader(stream)
        timeout = self._timeout()
        stream.deadline = time.monotonic() + timeout if timeout else None
        greeting, self._greeting_pending = self._greeting_pending, False
        try:
            code, reply = read_reply(self.file.readline, greeting=greeting)
        except OSError as exc:  # smtplib's errors are OSErrors too
            self.close()
            if isinstance(exc, smtplib.SMTPException):
                raise
            raise smtplib.SMTPServerDisconnected(f"Connection unexpectedly closed: {exc}") from exc
        finally:
            stream.deadline = None
            if self.sock is not None and timeout:
                self.sock.settimeout(timeout)
        secrets = getattr(self, "secrets", None)  # UTF8AuthMixin's, once AUTH has begun
        if secrets:
            reply = secrets.scrub(reply)
        return code, reply
