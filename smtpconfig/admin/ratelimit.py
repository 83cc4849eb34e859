"""How much network work one admin user can make this server do.

Tests and "Detect settings" connect to servers the user names and hold a
worker while they run, so each user gets ``SMTPCONFIG["TEST_RATE_LIMIT"]``
of them a minute and ``SMTPCONFIG["TESTS_AT_ONCE"]`` at the same time.
The counts live in Django's default cache, which must be shared by every
worker process (the host project uses its database cache). When the cache
cannot count (a read-only or locked database, a cache that is down) the
limit fails closed: nothing runs rather than everything.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager

from django.core.cache import cache
from django.utils.translation import gettext as _

from ..conf import get_setting

logger = logging.getLogger("smtpconfig")

# A slot outlives a worker that died mid-test by at most this long.
_SLOT_SECONDS = 300


class Refused(Exception):
    """The user may not run this now; the message says why and when to try again."""


def _count(key: str, timeout: int) -> int:
    """Add one to ``key`` and return the new count, read back from the cache.

    Raises :class:`Refused` when the cache does not keep what is written
    (Django's database cache swallows write errors, so reading back is the
    only way to know).
    """
    try:
        cache.add(key, 0, timeout=timeout)
        try:
            count = cache.incr(key)
        except ValueError:  # evicted between add and incr
            cache.set(key, 1, timeout=timeout)
            count = 1
        stored = cache.get(key)
    except Exception:  # noqa: BLE001 - any cache failure refuses; it never lets tests through
        logger.exception("smtpconfig: the rate-limit cache failed; the test was refused")
        stored = None
    if stored is None or stored < count:
        raise Refused(
            _(
                "The test could not be counted against the rate limit (the cache or the "
                "database is not accepting writes), so it was not run. Try again later, or "
                "ask an operator to check the database."
            )
        )
    return count


def _release(key: str) -> None:
    try:
        cache.decr(key)
    except Exception:  # noqa: BLE001 - the slot expires on its own
        logger.warning("smtpconfig: could not release a test slot; it expires by itself")


def check_minute_rate(user_id: object) -> None:
    """Count one test for ``user_id``; :class:`Refused` past the limit in the last minute.

    A sliding window over two clock-minute counters: this minute's count plus the
    previous minute's, weighted by how much of it is still within the last 60 s. A
    fixed window alone let twice the limit through across a minute boundary (and a
    test run that crossed one saw its count start again).
    """
    limit = int(get_setting("TEST_RATE_LIMIT"))
    if limit <= 0:
        return
    now = time.time()
    minute = int(now // 60)
    count = _count(_minute_key(user_id, minute), timeout=120)
    try:
        previous = int(cache.get(_minute_key(user_id, minute - 1)) or 0)
    except Exception:  # noqa: BLE001 - this minute's count, already kept, still limits
        previous = 0
    within_last_minute = previous * (1 - (now % 60) / 60)
    if count + within_last_minute > limit:
        raise Refused(
            _(
                "You have run %(limit)d tests in the last minute; wait %(seconds)d seconds "
                "before the next. (The limit keeps the admin from being used to send spam.)"
            )
            % {"limit": limit, "seconds": max(1, int(60 - now % 60))}
        )


def _minute_key(user_id: object, minute: int) -> str:
    return f"smtpconfig:tests:{user_id}:{minute}"


@contextmanager
def running_slot(user_id: object) -> Iterator[None]:
    """Hold one of the user's ``TESTS_AT_ONCE`` slots while the block runs."""
    limit = int(get_setting("TESTS_AT_ONCE"))
    if limit <= 0:
        yield
        return
    key = f"smtpconfig:running:{user_id}"
    count = _count(key, timeout=_SLOT_SECONDS)
    try:
        if count > limit:
            raise Refused(
                _("You already have a test running; wait for it to finish before starting another.")
            )
        yield
    finally:
        _release(key)


@contextmanager
def admitted(user_id: object) -> Iterator[None]:
    """Run the block if the user is within both limits, else raise :class:`Refused`."""
    with running_slot(user_id):
        check_minute_rate(user_id)
        yield
