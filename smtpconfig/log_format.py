"""Log formatters that keep one record on one line: JSON, key=value, and plain text.

smtpconfig's events (:mod:`smtpconfig.log_events`) carry their facts as
``extra`` fields of the record (``event``, ``profile``, ``step``,
``outcome``, ``duration_ms``, …). :class:`JSONFormatter` and
:class:`KeyValueFormatter` write those beside the time, the level, the
logger and the human message, for a log collector to index; any other
record's ``extra`` values are written too when they are plain values
(text, numbers, booleans), never objects such as Django's ``request``.

A log line may quote a mail server's reply, which a hostile server writes: so
no character that could end a line (CR, LF, the Unicode line and paragraph
separators, other control characters) is ever written as it is, and
key=value quotes every value that holds a space, a quote or an ``=``.
Nothing a server says can start a second line or add a field. Set one with
``LOGGING["formatters"][name] = {"()": "smtpconfig.log_format.JSONFormatter"}``.
"""

from __future__ import annotations

import functools
import json
import logging
import re
from datetime import UTC, datetime
from typing import Any

# The attributes every LogRecord has: anything else on a record came from ``extra``.
_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {
    "message",
    "asctime",
    "taskName",
}
_PLAIN = (str, int, float, bool, type(None))
# key=value: a key keeps letters, digits and _.-; a value without these needs no quotes.
_KEY_UNSAFE = re.compile(r"[^\w.-]")
_BARE = re.compile(r'[^ "=\\]+')
# Characters that end a line for some reader (str.splitlines() splits on each) and that
# json.dumps(ensure_ascii=False) leaves as they are.
_JSON_LINE_BREAKS = {"\x85": "\\u0085", "\u2028": "\\u2028", "\u2029": "\\u2029"}


def extra_fields(record: logging.LogRecord) -> dict[str, Any]:
    """The record's ``extra`` fields that are plain values, in the order they were given."""
    return {
        name: value
        for name, value in vars(record).items()
        if name not in _STANDARD and not name.startswith("_") and isinstance(value, _PLAIN)
    }


def escape_controls(text: str) -> str:
    """``text`` with every character that is not printable (CR, LF, tab, other control
    characters, line separators) written as an escape, so that it stays on one line."""
    if text.isprintable():
        return text
    return "".join(char if char.isprintable() else _escape_char(char) for char in text)


def _escape_char(char: str) -> str:
    escaped = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}.get(char)
    if escaped:
        return escaped
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


class _StructuredFormatter(logging.Formatter):
    """The fields of one line: time (UTC, ISO 8601), level, logger, message, the extras,
    and the exception's traceback last, if any."""

    def fields(self, record: logging.LogRecord) -> dict[str, Any]:
        values: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name, value in extra_fields(record).items():
            values.setdefault(name, value)
        if record.exc_info:
            record.exc_text = record.exc_text or self.formatException(record.exc_info)
        if record.exc_text:
            values["exception"] = record.exc_text
        if record.stack_info:
            values["stack"] = self.formatStack(record.stack_info)
        return values


class JSONFormatter(_StructuredFormatter):
    """One JSON object per line: ``{"time": ..., "level": ..., "logger": ..., "message":
    ..., "event": ..., ...}``."""

    def format(self, record: logging.LogRecord) -> str:
        line = json.dumps(self.fields(record), ensure_ascii=False, default=str)
        for char, escaped in _JSON_LINE_BREAKS.items():
            line = line.replace(char, escaped)
        return line


class KeyValueFormatter(_StructuredFormatter):
    """One line of ``key=value`` pairs (logfmt): ``time=... level=INFO logger=smtpconfig
    message="Sent ..." event=send ...``. A value with a space, a quote, an ``=`` or a
    backslash is quoted, with ``"`` and ``\\`` escaped; control characters are escaped
    in every value; ``None`` is an empty value."""

    def format(self, record: logging.LogRecord) -> str:
        return " ".join(
            f"{_key(name)}={_value(value)}" for name, value in self.fields(record).items()
        )


@functools.lru_cache(maxsize=256)
def _key(name: str) -> str:
    return _KEY_UNSAFE.sub("", name) or "_"


def _value(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    text = str(value)
    if _BARE.fullmatch(text) and text.isprintable():
        return text
    # Backslashes and quotes first, so that the escapes of control characters stay single.
    return '"' + escape_controls(text.replace("\\", "\\\\").replace('"', '\\"')) + '"'


class TextFormatter(logging.Formatter):
    """Django's usual one-line text (``"{asctime} {levelname} {name}: {message}"`` by
    default), with the message's control characters escaped so that a server's reply
    cannot start a line of its own; a traceback stays on the lines after it."""

    def __init__(self, fmt=None, datefmt=None, style="{", **kwargs):
        super().__init__(fmt or "{asctime} {levelname} {name}: {message}", datefmt, style, **kwargs)

    def formatMessage(self, record: logging.LogRecord) -> str:  # noqa: N802 (logging's name)
        record.message = escape_controls(record.message)
        return super().formatMessage(record)
