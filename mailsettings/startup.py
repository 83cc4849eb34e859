"""The one check every entry point makes before it serves or works: are the keys there?

A process that would run without its Django secret key or smtpconfig's encryption key
(with ``DJANGO_DEBUG`` off), or with the debug page in production, stops here with one
line on stderr saying what to set, and exit status 2: a traceback would bury the line.
The settings module works out the problem (``MAILSETTINGS_STARTUP_PROBLEM``); this module
acts on it, so that the commands that make the keys can still load the settings.
"""

from __future__ import annotations

import sys

#: manage.py commands that run without the keys: they make them, or only print help.
COMMANDS_WITHOUT_KEYS = frozenset(
    {"smtp_generate_key", "help", "version", "--help", "-h", "--version"}
)


def startup_problem() -> str:
    """What stops a start, in one line ('' when nothing does)."""
    from django.conf import settings

    return getattr(settings, "MAILSETTINGS_STARTUP_PROBLEM", "")


def require_keys(argv: list[str] | None = None) -> None:
    """Stop the process with one line when it would run without its keys.

    ``argv``: manage.py's arguments; its key-making and help commands are let through.
    """
    if argv is not None and (len(argv) < 2 or argv[1] in COMMANDS_WITHOUT_KEYS):
        return
    problem = startup_problem()
    if problem:
        sys.stderr.write(f"mailsettings: {problem}\n")
        sys.stderr.flush()
        raise SystemExit(2)
