"""Writing the delivery log: one row per message, and never the reason a send fails.

The backend collects the rows of a batch and writes them in one INSERT when
the batch ends (:func:`write`), so the log costs one statement per
connection rather than one per message. The INSERT is built from the model's
own fields, each value prepared by its field for the database in use.
"""

from __future__ import annotations

import functools
import logging
from datetime import timedelta
from typing import TYPE_CHECKING

from django.db import connections, router, transaction
from django.utils import timezone

from ..conf import get_setting
from ..models import DeliveryLog

if TYPE_CHECKING:
    from django.core.mail import EmailMessage

logger = logging.getLogger("smtpconfig")

_MAX_FIELD = 998  # the longest header line RFC 5322 allows
_COLUMNS = (
    "created_at",
    "profile",
    "profile_name",
    "tried",
    "sender",
    "recipients",
    "subject",
    "message_id",
    "outcome",
    "reply",
    "duration",
)


def enabled() -> bool:
    return bool(get_setting("DELIVERY_LOG"))


def entry(
    *,
    message: EmailMessage,
    outcome: str,
    profile_pk: int | None,
    profile_name: str,
    tried: list[dict],
    reply: str,
    duration: float,
    sender: str,
    message_id: str = "",
) -> dict:
    """The values of one log row for ``message``."""
    return {
        "created_at": timezone.now(),
        "profile": profile_pk,
        "profile_name": profile_name[:100],
        "tried": tried,
        "sender": str(sender)[:_MAX_FIELD],
        # str(): an address may be a lazy translation string (Django allows it).
        "recipients": ", ".join(str(address) for address in message.recipients()),
        "subject": str(message.subject or "")[:_MAX_FIELD],
        "message_id": str(message_id)[:_MAX_FIELD],
        "outcome": outcome,
        "reply": reply,
        "duration": duration,
    }


def write(rows: list[dict]) -> None:
    """Insert ``rows`` in one statement; log and swallow any error.

    The messages' fate has already been decided: the log must not change it.
    Like the profile freshness check, the INSERT goes through the DB-API
    cursor (Django's cursor adds ~35 µs to a statement that runs for every
    connection), and through Django's cursor if the driver complains.
    """
    if not rows:
        return
    try:
        database = router.db_for_write(DeliveryLog)
        connection = connections[database]
        params = [
            field.get_db_prep_save(row[field.name], connection)
            for row in rows
            for field in _fields()
        ]
        if connection.in_atomic_block:
            # Inside the caller's transaction: a savepoint, so that a failed INSERT
            # (PostgreSQL aborts the whole transaction on an error) spoils nothing.
            with transaction.atomic(using=database), connection.cursor() as cursor:
                cursor.execute(_insert_sql(database, len(rows), "%s"), params)
        else:
            _insert_autocommit(connection, database, len(rows), params)
    except Exception:  # noqa: BLE001 - the log never makes a send fail
        logger.exception("Could not write %d SMTP delivery log rows.", len(rows))


def _insert_autocommit(connection, database: str, row_count: int, params: list) -> None:
    try:
        connection.ensure_connection()
        placeholder = "?" if connection.Database.paramstyle == "qmark" else "%s"
        cursor = connection.connection.cursor()
        try:
            cursor.execute(_insert_sql(database, row_count, placeholder), params)
        finally:
            cursor.close()
    except Exception:  # noqa: BLE001 - the same statement again, the way Django runs it
        with connection.cursor() as cursor:
            cursor.execute(_insert_sql(database, row_count, "%s"), params)


@functools.cache
def _fields() -> tuple:
    return tuple(DeliveryLog._meta.get_field(name) for name in _COLUMNS)


@functools.lru_cache(maxsize=64)
def _insert_sql(database: str, row_count: int, placeholder: str) -> str:
    """The INSERT for ``row_count`` rows, built once: only model names go into it."""
    quote = connections[database].ops.quote_name
    values = "(" + ", ".join([placeholder] * len(_COLUMNS)) + ")"
    return (
        f"INSERT INTO {quote(DeliveryLog._meta.db_table)} "  # noqa: S608
        f"({', '.join(quote(field.column) for field in _fields())}) "
        f"VALUES {', '.join([values] * row_count)}"
    )


#: Rows deleted per statement by :func:`prune`, each batch in a transaction of its own.
PRUNE_BATCH = 5_000


def prune(days: int | None = None, *, batch_size: int = PRUNE_BATCH) -> int:
    """Delete rows older than ``days`` (default: the retention setting); return how many.

    In batches of ``batch_size`` rows by primary key, each committed on its own: a
    month of a busy site's log is millions of rows, and one DELETE of them all would
    hold its locks, and grow the write-ahead log, for as long as it runs. A row is
    chosen through the time index and deleted by its key; the backend's inserts go
    on between batches.
    """
    if days is None:
        days = int(get_setting("DELIVERY_LOG_RETENTION_DAYS"))
    cutoff = timezone.now() - timedelta(days=days)
    database = router.db_for_write(DeliveryLog)
    rows = DeliveryLog.objects.using(database)
    old = rows.filter(created_at__lt=cutoff).order_by().values("pk")
    total = 0
    while True:
        # One DELETE … WHERE id IN (SELECT id … LIMIT n): the ids never travel to Python.
        with transaction.atomic(using=database):
            deleted, _ = rows.filter(pk__in=old[:batch_size]).delete()
        total += deleted
        if deleted < batch_size:
            return total
