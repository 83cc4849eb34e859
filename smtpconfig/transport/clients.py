"""smtplib clients that authenticate with UTF-8 credentials.

The standard library encodes AUTH payloads as ASCII, so a password such as
``pässwörd`` fails with ``UnicodeEncodeError`` before anything reaches the
server. RFC 4616 (PLAIN) and common practice for LOGIN and CRAM-MD5 use
UTF-8; these subclasses do the same and remember which mechanism succeeded.

Each wait and each reply go through :class:`~.conversation.ConversationMixin`,
which goes first in the bases: within the timeout and the conversation's
budget, and no further than a reply may go.
"""

from __future__ import annotations

import base64
import hmac
import smtplib

from ..exceptions import SMTPProtocolError
from .conversation import ConversationMixin
from .replies import SecretMask, decode_challenge
from .transaction import MailTransactionMixin

# Same bound as smtplib: a server that keeps challenging is broken.
_MAX_CHALLENGES = 5


def _b64(text: str) -> str:
    return base64.b64encode(text.encode("utf-8")).decode("ascii")


class UTF8AuthMixin:
    """Replaces :meth:`smtplib.SMTP.auth` with a UTF-8-clean equivalent.

    Everything secret that it sends is remembered in :attr:`secrets`, which
    the reply reader masks in every reply from then on.
    """

    #: The AUTH mechanism that succeeded, once :meth:`login` has returned.
    auth_mechanism: str | None = None
    #: What was sent while logging in (None before AUTH).
    secrets: SecretMask | None = None

    def auth(self, mechanism, authobject, *, initial_response_ok=True):
        mechanism = mechanism.upper()
        if self.secrets is None:
            self.secrets = SecretMask()
        self.secrets.add_password(getattr(self, "password", "") or "")
        initial_response = authobject() if initial_response_ok else None
        if initial_response is not None:
            argument = _b64(initial_response)
            self.secrets.add_sent(argument)
            code, reply = self.docmd("AUTH", f"{mechanism} {argument}")
            self._auth_challenge_count = 1
        else:
            code, reply = self.docmd("AUTH", mechanism)
            self._auth_challenge_count = 0
        while code == 334:
            self._auth_challenge_count += 1
            answer = _b64(authobject(decode_challenge(reply)))
            self.secrets.add_sent(answer)
            code, reply = self.docmd(answer)
            if self._auth_challenge_count > _MAX_CHALLENGES:
                raise smtplib.SMTPException(
                    f"The server kept sending AUTH challenges; last reply: {code}"
                )
        if code in (235, 503):
            self.auth_mechanism = mechanism
            return code, reply
        raise smtplib.SMTPAuthenticationError(code, reply)

    def login_xoauth2(self, user: str, token: str):
        """Log in with an OAuth2 access token (SASL XOAUTH2, as Google and Microsoft take it).

        The token is masked like a password in every reply read afterwards.
        """
        self.ehlo_or_helo_if_needed()
        offered = self.esmtp_features.get("auth", "").upper().split()
        if "XOAUTH2" not in offered:
            raise smtplib.SMTPException("The server does not offer AUTH XOAUTH2.")
        self.user, self.password = user, token
        return self.auth("XOAUTH2", self.auth_xoauth2)

    def auth_xoauth2(self, challenge=None):
        if challenge is None:
            return f"user={self.user}\x01auth=Bearer {self.password}\x01\x01"
        # A 334 carries the server's JSON error: an empty answer gets the final refusal.
        return ""

    def auth_cram_md5(self, challenge=None):
        if challenge is None:
            return None
        digest = hmac.HMAC(self.password.encode("utf-8"), challenge, "md5").hexdigest()
        return f"{self.user} {digest}"


class SessionSMTP(ConversationMixin, MailTransactionMixin, UTF8AuthMixin, smtplib.SMTP):
    """:class:`smtplib.SMTP` over a socket the transport has already connected (and wrapped).

    The transport (:mod:`.session`) resolves, connects through the network
    policy and does an implicit TLS handshake itself, so that each is a step
    of its own with its own timing and error; this client then greets, starts
    TLS, logs in and sends, with UTF-8 authentication, time budgets, safe
    replies, and each message as one mail transaction (:mod:`.transaction`:
    pipelined where the server offers it, knowing whether the server may have
    the message).
    """

    def __init__(self, sock, server_hostname: str, **kwargs):
        self._preconnected_socket = sock
        super().__init__(**kwargs)
        # smtplib sets this (the name STARTTLS verifies) only when __init__ connects.
        self._host = server_hostname

    def _get_socket(self, host, port, timeout):
        self._guard(self._preconnected_socket)
        return self._preconnected_socket


#: Entries a transcript keeps, and characters per entry; then it says "… (cut)".
MAX_TRANSCRIPT_ENTRIES = 200
MAX_TRANSCRIPT_CHARS = 300
TRANSCRIPT_CUT = "… (cut)"


class TranscriptMixin:
    """Records the conversation, with every credential masked, up to a size.

    The AUTH command's argument and each reply to a server challenge (334)
    are replaced by ``****`` (and the reply reader masks what a server
    repeats later); the message itself is recorded by its size only. Goes
    before :class:`ConversationMixin` in the bases, so it sees what is sent
    first and each reply as the reader lets it through.
    """

    MASK = "****"
    #: Whether an entry was shortened or entries were left out.
    transcript_cut = False

    def _transcript(self) -> list[str]:
        if "transcript" not in self.__dict__:
            self.transcript: list[str] = []
            self._masking_auth = False
        return self.transcript

    def _record(self, entry: str) -> None:
        transcript = self._transcript()
        if len(transcript) >= MAX_TRANSCRIPT_ENTRIES:
            return  # the last entry already says "… (cut)"
        if len(transcript) == MAX_TRANSCRIPT_ENTRIES - 1:
            entry, self.transcript_cut = TRANSCRIPT_CUT, True
        elif len(entry) > MAX_TRANSCRIPT_CHARS:
            entry, self.transcript_cut = entry[:MAX_TRANSCRIPT_CHARS] + "…", True
        transcript.append(entry)

    _in_data = False

    def _send_message(self, msg):
        # The message itself, after a 354, pipelined or not: recorded by its size only.
        self._in_data = True
        try:
            return super()._send_message(msg)
        finally:
            self._in_data = False

    def send(self, s):
        self._transcript()
        text = s.decode("utf-8", "replace") if isinstance(s, bytes) else s
        if self._in_data and isinstance(s, bytes) and s.endswith(b"\r\n.\r\n"):
            self._record(f"C: <message, {len(s)} bytes>")
        elif text.upper().startswith("AUTH"):
            words = text.split()
            self._record(f"C: AUTH {words[1] if len(words) > 1 else ''} {self.MASK}")
            self._masking_auth = True
        elif self._masking_auth:
            self._record(f"C: {self.MASK}")
        else:
            # A pipelined write carries several commands: one entry each.
            for line in text.rstrip("\r\n").split("\r\n"):
                self._record("C: " + line)
        return super().send(s)

    def getreply(self):
        self._transcript()
        try:
            code, reply = super().getreply()
        except SMTPProtocolError as exc:
            self._record(f"S: <{exc}>")  # what was wrong, never the reply itself
            raise
        lines = reply.decode("utf-8", "replace").splitlines() or [""]
        if code == 334:
            # A challenge may echo what the client sent; it is never shown.
            lines = [self.MASK]
        else:
            self._masking_auth = False
        for index, line in enumerate(lines):
            separator = "-" if index < len(lines) - 1 else " "
            self._record(f"S: {code}{separator}{line}")
        return code, reply


class PreconnectedSMTP(TranscriptMixin, SessionSMTP):
    """:class:`SessionSMTP` that also records the conversation (the probe's client)."""
