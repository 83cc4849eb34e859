"""What a worker writes while it sends a claimed batch: one commit per message.

Before a message starts to go out, its row is marked (``started_at``, one more
attempt); the outcome of the message before it, and its delivery log rows,
are written in the same transaction. So a worker killed at any moment leaves
each message either recorded, or marked as started (it may have gone out:
``unknown`` once the claim runs out), or untouched (claimable again).
"""

from __future__ import annotations

import time

from django.db import router, transaction
from django.db.models import F
from django.utils import timezone

from ..conf import get_setting
from ..delivery import log as delivery_log
from ..models import OutboxMessage
from .claims import renew


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

    def _rows(self, key):
        return OutboxMessage.objects.using(self.database).filter(pk=key, claim=self.token)

    def _write_pending(self) -> None:
        for key, fields in self._updates:
            self._rows(key).update(**fields)
        delivery_log.write(self._log_rows)
        self._updates, self._log_rows = [], []

    def start(self, row: OutboxMessage) -> None:
        """Mark ``row`` as going out now (and write what came before)."""
        now = timezone.now()
        with transaction.atomic(using=self.database):
            self._write_pending()
            self._rows(row.pk).update(
                started_at=now, attempts=F("attempts") + 1, last_attempt_at=now
            )
        row.attempts += 1
        row.started_at = row.last_attempt_at = now
        if time.monotonic() - self._renewed > self._renew_every:
            renew(self.token)
            self._renewed = time.monotonic()

    def finish(self, row: OutboxMessage, fields: dict, log_rows: list[dict]) -> None:
        """Record how ``row`` ended; written with the next start, or by :meth:`flush`."""
        self._updates.append((row.pk, {**fields, "claim": "", "leased_until": None}))
        self._log_rows.extend(log_rows)

    def release(self, row: OutboxMessage, fields: dict) -> None:
        """Give ``row`` back without an attempt (it waits with the messages before it)."""
        self._updates.append(
            (row.pk, {**fields, "claim": "", "leased_until": None, "started_at": None})
        )

    def flush(self) -> None:
        if self._updates or self._log_rows:
            with transaction.atomic(using=self.database):
                self._write_pending()
