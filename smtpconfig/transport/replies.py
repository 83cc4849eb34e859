"""Reading a server's reply as far as a client may trust it.

smtplib reads reply lines for as long as the server sends them (a hostile
server answered EHLO with 100 MB) and turns a reply without a code into code
-1. :func:`read_reply` stops at RFC 5321's scale instead
(:data:`MAX_REPLY_LINES`, :data:`MAX_REPLY_BYTES`; its reply lines are at
most 512 octets), refuses a reply without a valid code and a greeting that
is not SMTP's; the errors it raises quote at most a short, sanitised start
of what was received (:func:`printable_start`). :class:`SecretMask` then
takes out of each reply the credentials the client sent, in every encoding a
server may echo them in.
"""

from __future__ import annotations

import base64
import binascii
import re
import smtplib
from collections.abc import Callable

from django.utils.translation import gettext as _

from ..exceptions import MalformedReply, NotAnSMTPServer, ReplyTooLong

#: Lines one reply may have (RFC 5321 replies are a few lines; EHLO has one per extension).
MAX_REPLY_LINES = 100
#: Bytes one reply may have, all lines together.
MAX_REPLY_BYTES = 64 * 1024
#: Bytes one line may have (smtplib's own limit; RFC 5321's is 512).
MAX_LINE_BYTES = 8192
#: Characters of a broken reply an error may quote.
SHOWN_CHARS = 40
#: Codes an SMTP server may greet with (RFC 5321 section 4.3.2, and 421 at any time).
GREETING_CODES = (220, 421, 554)
MASK = "****"

_SEPARATORS = (b" ", b"-", b"\r", b"\n", b"")


def printable_start(data: bytes, limit: int = SHOWN_CHARS) -> str:
    """The start of ``data``'s first line: printable ASCII only, at most ``limit`` characters."""
    line = re.split(rb"[\r\n]", data, maxsplit=1)[0]
    text = "".join(char for char in line.decode("ascii", "replace") if " " <= char <= "~")
    return text if len(text) <= limit else text[:limit] + "…"


def read_reply(readline: Callable[[int], bytes], *, greeting: bool = False) -> tuple[int, bytes]:
    """Read one reply through ``readline(limit)``: its code and its lines joined by newlines.

    Raises :class:`ReplyTooLong` past the limits (without reading on),
    :class:`MalformedReply` for a line without a valid code,
    :class:`NotAnSMTPServer` when the greeting is not an SMTP greeting, and
    ``SMTPServerDisconnected`` when the connection ends first.
    """
    lines: list[bytes] = []
    size = 0
    while True:
        limit = min(MAX_LINE_BYTES, MAX_REPLY_BYTES - size)
        line = readline(limit + 1)
        if not line:
            raise smtplib.SMTPServerDisconnected("Connection unexpectedly closed")
        size += len(line)
        code = line[:3]
        valid = code.isdigit() and line[3:4] in _SEPARATORS
        if greeting and not lines and not (valid and int(code) in GREETING_CODES):
            raise NotAnSMTPServer(
                _("this is not an SMTP server: it greeted with “%(start)s”")
                % {"start": printable_start(line)}
            )
        if not valid:
            raise MalformedReply(
                _("the server's reply has no valid reply code: “%(start)s”")
                % {"start": printable_start(line)}
            )
        if len(line) > limit:
            raise ReplyTooLong(_too_long())
        if not line.endswith(b"\n"):
            # The connection ended in the middle of a line (or the budget's watchdog
            # ended it): not a reply to act on.
            raise smtplib.SMTPServerDisconnected("Connection unexpectedly closed")
        lines.append(line[4:].strip(b" \t\r\n"))
        if line[3:4] != b"-":
            return int(code), b"\n".join(lines)
        if len(lines) >= MAX_REPLY_LINES:
            raise ReplyTooLong(_too_long())


def _too_long() -> str:
    return _(
        "the server's reply was cut: it was longer than %(lines)s lines or %(kib)s KiB, "
        "more than any SMTP server sends"
    ) % {"lines": MAX_REPLY_LINES, "kib": MAX_REPLY_BYTES // 1024}


def decode_challenge(reply: bytes) -> bytes:
    """An AUTH challenge (the text of a 334 reply) decoded; MalformedReply if it is not base64."""
    try:
        return base64.b64decode(b"".join(reply.split()), validate=True)
    except binascii.Error:
        raise MalformedReply(_("the server's AUTH challenge is not valid base64")) from None


# Runs of base64 characters (standard or URL-safe alphabet), where an encoded secret may hide.
_TOKEN = re.compile(rb"[A-Za-z0-9+/_-]{4,}={0,2}")
_URL_SAFE = bytes.maketrans(b"-_", b"+/")


class SecretMask:
    """What the client sent while logging in, taken out of every reply read afterwards.

    A server may repeat the AUTH argument (the base64 of ``\\0user\\0password``)
    or the password in its refusal, and that text goes on into exceptions, the
    test report, the delivery log and logs. The mask replaces every string the
    client sent, the password itself, and any base64 run in the reply whose
    decoding contains the password, whatever its padding or alignment.
    """

    def __init__(self):
        self._sent: set[bytes] = set()
        self._password = b""

    def __bool__(self) -> bool:
        return bool(self._password or self._sent)

    def add_password(self, password: str) -> None:
        if password:
            self._password = password.encode("utf-8")
            self._sent.add(self._password)

    def add_sent(self, text: str) -> None:
        if text:
            self._sent.add(text.encode("utf-8"))

    def scrub(self, reply: bytes) -> bytes:
        # Longest first: the password may be part of a longer string that was sent.
        for secret in sorted(self._sent, key=len, reverse=True):
            reply = reply.replace(secret, MASK.encode())
        if self._password:
            reply = _TOKEN.sub(self._mask_token, reply)
        return reply

    def _mask_token(self, match: re.Match) -> bytes:
        token = match.group().rstrip(b"=").translate(_URL_SAFE)
        shortest = -(-len(self._password) * 4 // 3)
        for shift in range(4):  # an echo may start anywhere in the encoding
            chunk = token[shift:]
            if len(chunk) < shortest:
                break
            if len(chunk) % 4 == 1:
                chunk = chunk[:-1]  # a lone last character encodes no whole byte
            try:
                decoded = base64.b64decode(chunk + b"=" * (-len(chunk) % 4))
            except binascii.Error:
                continue
            if self._password in decoded:
                return MASK.encode()
        return match.group()
