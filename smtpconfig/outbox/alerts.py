"""Alerts to the administrators: a message failed for good, a profile failed over, the
queue is backing up. (Filled in by the alerts change.)"""

from __future__ import annotations


def message_failed(row, result) -> None:
    """A queued message failed for good or ended unknown."""


def queue_backing_up(waiting: int, oldest_age_seconds: float) -> None:
    """Messages have waited longer than OUTBOX_STALE_SECONDS."""
