"""Reading a server's reply as far as a client may trust it.

smtplib reads reply lines for as long as the server sends them (a hostile
server answered EHLO with 100 MB). :func:`read_reply` stops at RFC 5321's
scale instead (:data:`MAX_REPLY_LINES`, :data:`MAX_REPLY_BYTES`; its reply
lines are at most 512 octets).
"""

from __future__ import annotations

import smtplib
from collections.abc import Callable

from django.utils.translation import gettext as _

from ..exceptions import ReplyTooLong

#: Lines one reply may have (RFC 5321 replies are a few lines; EHLO has one per extension).
MAX_REPLY_LINES = 100
#: Bytes one reply may have, all lines together.
MAX_REPLY_BYTES = 64 * 1024
#: Bytes one line may have (smtplib's own limit; RFC 5321's is 512).
MAX_LINE_BYTES = 8192


def read_reply(readline: Callable[[int], bytes]) -> tuple[int, bytes]:
    """Read one reply through ``readline(limit)``: its code and its lines joined by newlines.

    Raises :class:`ReplyTooLong` past the limits (without reading on), and
    ``SMTPServerDisconnected`` when the connection ends first. A line without
    a numeric code ends the reply with code -1, as in smtplib.
    """
    lines: list[bytes] = []
    size = 0
    while True:
        limit = min(MAX_LINE_BYTES, MAX_REPLY_BYTES - size)
        line = readline(limit + 1)
        if not line:
            raise smtplib.SMTPServerDisconnected("Connection unexpectedly closed")
        size += len(line)
        if len(line) > limit:
            raise ReplyTooLong(_too_long())
        lines.append(line[4:].strip(b" \t\r\n"))
        try:
            code = int(line[:3])
        except ValueError:
            return -1, b"\n".join(lines)
        if line[3:4] != b"-":
            return code, b"\n".join(lines)
        if len(lines) >= MAX_REPLY_LINES:
            raise ReplyTooLong(_too_long())


def _too_long() -> str:
    return _(
        "the server's reply was cut: it was longer than %(lines)s lines or %(kib)s KiB, "
        "more than any SMTP server sends"
    ) % {"lines": MAX_REPLY_LINES, "kib": MAX_REPLY_BYTES // 1024}
