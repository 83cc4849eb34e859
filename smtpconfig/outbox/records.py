"""What a worker writes while it sends a claimed batch.

Before a message starts to go out, its row is marked (``started_at``, one more
attempt); the outcomes of the messages before it, and their delivery log
rows, are written in the same transaction. So a worker killed at any moment
leaves each message either recorded, or marked as started (it may have gone
out: ``unknown`` once the claim runs out), or untouched (claimable again).

One commit per message costs more than the message itself when the server is
near (a local relay answers in a millisecond). So while messages go out fast,
the mark also covers the next few, as many as take about
``OUTBOX_MARK_AHEAD_SECONDS`` to send at the pace so far: one commit per group.
A worker killed meanwhile leaves those of the group not yet sent as
``unknown`` too, never sent twice. Against a server farther than that, each
message is marked alone.
"""

from __future__ import annotations

import time

from django.db import connections, router, transaction
from django.utils import timezone

from ..conf import get_setting
from ..delivery import log as delivery_log
from ..models import OutboxMessage
from .claims import renew

#: The most messages one commit marks ahead of their turn.
_MOST_AHEAD = 50


class BatchRecorder:
    """Records a claimed batch's progress under the claim ``token``.

    Every write is limited to rows still held by ``token``: a worker whose claim
    ran out (and whose messages another worker took) changes nothing.
    """

    def __init__(self, token: str):
        self.token = token
        self.database = router.db_for_write(OutboxMessage)
        self._updates: list[tuple[int, dict]] = []
        self._log_rows: list[dict] = []
        self._renewed = time.monotonic()
        self._renew_every = float(get_setting("OUTBOX_LEASE_SECONDS")) / 3
        self._mark_ahead = float(get_setting("OUTBOX_MARK_AHEAD_SECONDS"))
        #: The keys of the messages in the order they will be tried (see plan()).
        self._plan: list = []
        #: Messages marked as started ahead of their turn, not tried yet.
        self._marked: set = set()
        #: Seconds from one start to the next, smoothed; None before the second start.
        self._pace: float | None = None
        self._last_start: float | None = None

    def _update(self, key, fields: dict, *, attempt: bool = False) -> None:
        """``UPDATE`` the row ``key`` if ``token`` still holds it (one more attempt too).

        The statement is written here rather than by ``QuerySet.update()``, whose
        Python costs ~0.7 ms a statement against ~0.1 ms for the statement itself
        (SQLite): with two a message, that halved a worker's rate.
        """
        connection = connections[self.database]
        quote = connection.ops.quote_name
        meta = OutboxMessage._meta
        assignments, params = [], []
        for name, value in fields.items():
            field = meta.get_field(name)
            assignments.append(f"{quote(field.column)} = %s")
            params.append(field.get_db_prep_save(value, connection))
        if attempt:
            column = quote(meta.get_field("attempts").column)
            assignments.append(f"{column} = {column} + 1")
        held = f"{quote(meta.pk.column)} = %s AND {quote(meta.get_field('claim').column)} = %s"
        with connection.cursor() as cursor:
            cursor.execute(
                f"UPDATE {quote(meta.db_table)} SET {', '.join(assignments)} WHERE {held}",  # noqa: S608
                [*params, key, self.token],
            )

    def _write_pending(self) -> None:
        for key, fields in self._updates:
            self._update(key, fields)
        delivery_log.write(self._log_rows)
        self._updates, self._log_rows = [], []

    def plan(self, rows: list[OutboxMessage]) -> None:
        """The messages about to be tried, in order (what a mark may cover ahead)."""
        self._plan = [row.pk for row in rows]

    def _ahead_of(self, row: OutboxMessage) -> list:
        """Keys of the planned messages after ``row`` that one commit may mark with it."""
        if not self._mark_ahead or not self._pace or row.pk not in self._plan:
            return []
        count = min(_MOST_AHEAD, int(self._mark_ahead / self._pace))
        position = self._plan.index(row.pk)
        return self._plan[position + 1 : position + 1 + count]

    def start(self, row: OutboxMessage) -> None:
        """Mark ``row`` as going out now (and write what came before)."""
        now = timezone.now()
        moment = time.monotonic()
        if self._last_start is not None:
            took = moment - self._last_start
            self._pace = took if self._pace is None else 0.7 * self._pace + 0.3 * took
        self._last_start = moment
        if row.pk in self._marked:
            self._marked.discard(row.pk)  # marked with an earlier one; its attempt is counted
        else:
            ahead = self._ahead_of(row)
            with transaction.atomic(using=self.database):
                self._write_pending()
                self._update(row.pk, {"started_at": now, "last_attempt_at": now}, attempt=True)
                if ahead:
                    self._mark(ahead, now)
            self._marked.update(ahead)
        row.attempts += 1
        row.started_at = row.last_attempt_at = now
        if time.monotonic() - self._renewed > self._renew_every:
            renew(self.token)
            self._renewed = time.monotonic()

    def _mark(self, keys: list, now) -> None:
        connection = connections[self.database]
        quote = connection.ops.quote_name
        meta = OutboxMessage._meta
        started = OutboxMessage._meta.get_field("started_at")
        placeholders = ", ".join(["%s"] * len(keys))
        with connection.cursor() as cursor:
            cursor.execute(
                f"UPDATE {quote(meta.db_table)} SET {quote(started.column)} = %s "  # noqa: S608
                f"WHERE {quote(meta.pk.column)} IN ({placeholders}) "
                f"AND {quote(meta.get_field('claim').column)} = %s",
                [started.get_db_prep_save(now, connection), *keys, self.token],
            )

    def finish(self, row: OutboxMessage, fields: dict, log_rows: list[dict]) -> None:
        """Record how ``row`` ended; written with the next start, or by :meth:`flush`."""
        # The attempt is written here too: a message marked ahead was not counted then.
        fields = {**fields, "attempts": row.attempts, "last_attempt_at": row.last_attempt_at}
        self._updates.append((row.pk, {**fields, "claim": "", "leased_until": None}))
        self._log_rows.extend(log_rows)

    def release(self, row: OutboxMessage, fields: dict) -> None:
        """Give ``row`` back without an attempt (it waits with the messages before it)."""
        self._marked.discard(row.pk)
        self._updates.append(
            (row.pk, {**fields, "claim": "", "leased_until": None, "started_at": None})
        )

    def flush(self) -> None:
        if self._updates or self._log_rows:
            with transaction.atomic(using=self.database):
                self._write_pending()
