"""smtpconfig's log events: one line per send, test, failover and failure, with the same fields.

Every event goes through :func:`log_event`, whose keyword arguments are the
only field names an event may carry, so that a log collector finds the same
fact under the same name in every line:

``event``
    ``send`` (a message the backend or an outbox worker sent or failed to send),
    ``failover`` (a profile failed, the next is tried), ``delivery_failed`` (no
    profile could send), ``test`` (an admin test, a connection check,
    ``smtp_test``), ``detect`` ("Detect settings", ``smtp_discover``).
``profile``, ``profile_pk``, ``server``
    The profile used or that failed (name, primary key, ``host:port``).
``step``
    Where a failure happened, in the steps' own names (``connect``, ``starttls``,
    ``auth``, ``mail``, ``rcpt``, ``data``, …); empty when nothing failed.
``outcome``
    ``sent``, ``failed_over``, ``failed``, ``deferred``, ``unknown`` (as the
    delivery log says), or ``ok``/``failed`` for a test.
``duration_ms``, ``message_id``, ``attempts``
    How long it took, the message's Message-ID, how many profiles failed first.
``recipients``, ``recipient_domains``
    How many recipients, and their domains: never an address.
``next_profile``, ``next_profile_pk``, ``kind``, ``via``
    The profile a failover tries next; a test's kind (``send_test`` or
    ``connection_check``); ``backend`` or ``outbox``.
``domain``, ``candidates``, ``dns``
    A detection's: the address's domain (never the address), how many candidate
    settings it found (``outcome`` ``found`` or ``none``), and how DNS answered.

No event carries a password, a token, a subject, a body or a link: the human
message is the one the line always had (the diagnosis's words), and the
fields only figures, names and steps. The formatters in
:mod:`smtpconfig.log_format` write them; Django's plain formatter shows the
message alone.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from email.utils import parseaddr
from typing import Any

logger = logging.getLogger("smtpconfig")

#: Field names an event may carry (the keyword arguments of :func:`log_event`).
FIELDS = (
    "event",
    "profile",
    "profile_pk",
    "server",
    "step",
    "outcome",
    "duration_ms",
    "message_id",
    "attempts",
    "recipients",
    "recipient_domains",
    "next_profile",
    "next_profile_pk",
    "kind",
    "via",
    "domain",
    "candidates",
    "dns",
)


def log_event(
    level: int,
    event: str,
    message: str,
    *args: Any,
    profile: str | None = None,
    profile_pk: int | None = None,
    server: str | None = None,
    step: str | None = None,
    outcome: str | None = None,
    duration: float | None = None,
    message_id: str | None = None,
    attempts: int | None = None,
    recipients: Iterable[Any] | None = None,
    next_profile: str | None = None,
    next_profile_pk: int | None = None,
    kind: str | None = None,
    via: str | None = None,
    domain: str | None = None,
    candidates: int | None = None,
    dns: str | None = None,
    exc_info: Any = None,
) -> None:
    """Log ``message % args`` at ``level`` with the event's fields as ``extra``.

    ``duration`` is in seconds (written as ``duration_ms``); ``recipients`` the
    addresses, written as their count and their domains. Fields left None are
    not written. Costs nothing when the level is not logged.
    """
    if not logger.isEnabledFor(level):
        return
    fields: dict[str, Any] = {
        "event": event,
        "profile": profile,
        "profile_pk": profile_pk,
        "server": server,
        "step": step,
        "outcome": outcome,
        "duration_ms": round(duration * 1000, 1) if duration is not None else None,
        "message_id": message_id,
        "attempts": attempts,
        "next_profile": next_profile,
        "next_profile_pk": next_profile_pk,
        "kind": kind,
        "via": via,
        "domain": domain,
        "candidates": candidates,
        "dns": dns,
    }
    if recipients is not None:
        addresses = [str(address) for address in recipients]
        fields["recipients"] = len(addresses)
        fields["recipient_domains"] = ",".join(domains(addresses))
    extra = {name: value for name, value in fields.items() if value is not None}
    logger.log(level, message, *args, extra=extra, exc_info=exc_info)


def domains(addresses: Iterable[str]) -> list[str]:
    """The distinct domains of ``addresses`` (``Name <user@Example.org>`` too), lower case,
    sorted; an address without one is left out."""
    found = set()
    for address in addresses:
        # A bare address (the usual case) needs no parsing.
        bare = address if "<" not in address and "," not in address else parseaddr(address)[1]
        _local, at, domain = bare.rpartition("@")
        domain = domain.strip().lower().rstrip(".")
        if at and domain:
            found.add(domain)
    return sorted(found)
