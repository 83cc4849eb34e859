"""The part of an SMTP client that waits for the server and reads what it says.

:class:`ConversationMixin` goes first in the bases of every client in
:mod:`.smtp`: it bounds each wait by the timeout and by the conversation's
:class:`~.deadline.Budget`, and reads each reply through
:func:`~.replies.read_reply` (capped and checked) and the client's
:class:`~.replies.SecretMask`.
"""

from __future__ import annotations

import io
import smtplib
import time

from ..exceptions import ConversationTimeout, SMTPProtocolError
from .deadline import WATCHDOG, Budget, Watch, conversation_budget
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
    """Every wait within the timeout and the conversation's budget; every reply read safely.

    The budget (:attr:`budget`) starts when the client connects, unless the
    caller brought one (the test's, which began before DNS), and covers the
    opening until :meth:`end_budget`; :meth:`sendmail` gives each message its
    own. In between, an idle connection is bounded by nothing but the timeout
    of its next command. When a budget runs out, the call fails with
    :class:`~smtpconfig.exceptions.ConversationTimeout` and the connection is
    closed.
    """

    #: The time the current conversation has; None: only the timeout bounds each wait.
    budget: Budget | None = None
    _watch: Watch | None = None
    _reply_stream: _DeadlineSocketIO | None = None
    _greeting_pending = False

    def __init__(self, *args, budget: Budget | None = None, **kwargs):
        self.budget = budget  # before smtplib's __init__, which may connect
        super().__init__(*args, **kwargs)

    # The budget.

    def _timeout(self) -> float | None:
        timeout = getattr(self, "timeout", None)
        return float(timeout) if isinstance(timeout, int | float) and timeout > 0 else None

    def _next_wait(self) -> float | None:
        """How long the next wait may last: the timeout, cut to what is left of the budget."""
        if self.budget is None:
            return self._timeout()
        try:
            return self.budget.wait(self._timeout())
        except ConversationTimeout:
            self.close()
            raise

    def _bound(self, sock) -> None:
        wait = self._next_wait()
        if wait is not None:
            sock.settimeout(wait)

    def _out_of_time(self) -> bool:
        return self.budget is not None and self.budget.spent

    def start_budget(self, kind: str) -> None:
        """Give what follows ("connect": opening; "send": one message) a budget of its own."""
        self.budget = Budget.start(conversation_budget(self._timeout()), kind)
        if self._watch is not None:
            if self.budget is None:
                WATCHDOG.disarm(self._watch)
            else:
                WATCHDOG.arm(self._watch, self.budget.deadline)

    def end_budget(self) -> None:
        """What the budget covered is done: an idle connection is not shut down."""
        self.budget = None
        if self._watch is not None:
            WATCHDOG.disarm(self._watch)

    def _guard(self, sock) -> None:
        """Watch the new connection, so that the budget can end any call blocked on it."""
        if self._watch is not None:
            WATCHDOG.close(self._watch)
        self._watch = WATCHDOG.watch(sock, self.budget.deadline if self.budget else None)

    # Connecting and closing.

    def connect(self, host="localhost", port=0, source_address=None):
        if self.budget is None:
            self.start_budget("connect")
        self._greeting_pending = True
        try:
            return super().connect(host, port, source_address)
        except OSError as exc:
            self.close()
            if self._out_of_time() and not isinstance(exc, ConversationTimeout):
                raise self.budget.exceeded() from None
            raise
        except BaseException:
            self.close()
            raise

    def starttls(self, *args, **kwargs):
        try:
            if self.sock is not None:
                self._bound(self.sock)
            return super().starttls(*args, **kwargs)
        except OSError:
            if not self._out_of_time():
                raise
            self.close()
            raise self.budget.exceeded() from None

    def close(self):
        try:
            super().close()
        finally:
            if self._watch is not None:
                WATCHDOG.close(self._watch)
                self._watch = None

    def quit(self):
        # The goodbye decides nothing: a broken one still ends the session, as a
        # disconnection (which Django's backend expects from quit()), not an error.
        try:
            return super().quit()
        except (SMTPProtocolError, ConversationTimeout) as exc:
            self.close()
            raise smtplib.SMTPServerDisconnected(str(exc)) from None

    # Talking.

    def sendmail(self, *args, **kwargs):
        self.start_budget("send")
        try:
            return super().sendmail(*args, **kwargs)
        finally:
            self.end_budget()

    def send(self, s):
        if self.sock is not None:
            self._bound(self.sock)
        try:
            return super().send(s)
        except smtplib.SMTPServerDisconnected:
            if self._out_of_time():
                raise self.budget.exceeded() from None
            raise

    def getreply(self):
        if self.sock is None:
            raise smtplib.SMTPServerDisconnected("please run connect() first")
        stream = self._reply_stream
        if self.file is None or stream is None or stream.sock is not self.sock:
            # New after connecting and after STARTTLS (smtplib drops self.file then).
            stream = self._reply_stream = _DeadlineSocketIO(self.sock)
            self.file = io.BufferedReader(stream)
        timeout = self._timeout()
        deadlines = [time.monotonic() + timeout] if timeout else []
        if self.budget is not None:
            deadlines.append(self.budget.deadline)
        stream.deadline = min(deadlines, default=None)
        greeting, self._greeting_pending = self._greeting_pending, False
        try:
            code, reply = read_reply(self.file.readline, greeting=greeting)
        except OSError as exc:  # smtplib's errors are OSErrors too
            self.close()
            if self._out_of_time():
                raise self.budget.exceeded() from None
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
