"""Sending claimed messages: a batch per route over one connection, each outcome recorded.

A route is what the sender asked for (a named profile or the failover chain).
Messages go out oldest first. When a route's server cannot be reached, the
first message records the failure and the rest of the route's messages wait
with it, without an attempt of their own; new messages for a route that is
waiting join the wait instead of trying first, and the first success wakes
the route's waiting messages. So when a server comes back, what waited goes
out in the order it was queued.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from itertools import groupby

from django.db import router
from django.utils import timezone

from ..backends import EmailBackend
from ..conf import get_setting
from ..delivery.failover import report_failure
from ..delivery.profiles import enabled_profiles
from ..exceptions import ProfileNotFound, SecretUnreadable
from ..log_events import log_event
from ..models import DeliveryOutcome, OutboxMessage, OutboxState
from ..transport.steps import describe_error
from . import alerts
from .claims import claim, expire_claims
from .records import BatchRecorder
from .retry import CONNECTION_STEPS, delay, gives_up, outcome_of
from .store import load

logger = logging.getLogger("smtpconfig")

_LOG_OUTCOME = {
    OutboxState.DEFERRED: DeliveryOutcome.DEFERRED,
    OutboxState.FAILED: DeliveryOutcome.FAILED,
    OutboxState.UNKNOWN: DeliveryOutcome.UNKNOWN,
}


@dataclass
class Result:
    """How one message's attempt ended."""

    state: str
    step: str = ""
    error: str = ""
    profile_pk: int | None = None
    profile_name: str = ""
    sender: str = ""


@dataclass
class Summary:
    """What a drain did: counts by outcome, and when deferred messages are due again."""

    sent: int = 0
    deferred: int = 0
    failed: int = 0
    unknown: int = 0
    #: The earliest next attempt among messages this drain deferred.
    wake_at: object = None
    #: Whether due messages were left for another run (the time limit was reached).
    more: bool = False
    #: How many messages this drain claimed.
    claimed: int = 0

    def count(self, state: str) -> None:
        if state == OutboxState.SENT:
            self.sent += 1
        elif state == OutboxState.DEFERRED:
            self.deferred += 1
        elif state == OutboxState.FAILED:
            self.failed += 1
        elif state == OutboxState.UNKNOWN:
            self.unknown += 1

    def defer_until(self, when) -> None:
        if self.wake_at is None or when < self.wake_at:
            self.wake_at = when

    def as_dict(self) -> dict:
        return {
            "sent": self.sent,
            "deferred": self.deferred,
            "failed": self.failed,
            "unknown": self.unknown,
        }


class OutboxSender(EmailBackend):
    """The backend's send sequence (failover, the delivery log, the diagnosis), reporting
    each message's outcome as a :class:`Result` instead of raising."""

    log_via = "outbox"

    def __init__(self, requested_profile: str, failover: bool | None):
        super().__init__(profile=requested_profile or None, failover=failover)
        self._log_rows: list[dict] = []
        self.payload_sent = False
        self.last_chance = False
        self.result: Result | None = None

    def send(self, email_message) -> Result:
        """Send one message (opening or reusing the connection); return how it ended."""
        self.payload_sent, self.result = False, None
        if self._send(email_message):
            return self.result
        return self.result or Result(OutboxState.FAILED, error="no recipients")

    def take_log_rows(self) -> list[dict]:
        rows, self._log_rows = self._log_rows, []
        return rows

    def next_batch(self) -> None:
        """Start a batch over the connection kept from the one before: profiles that
        failed then are tried again, as a new sender would."""
        self._down = {}

    def _deliver(self, email_message, target):
        try:
            return super()._deliver(email_message, target)
        except OSError:
            self.payload_sent = bool(getattr(self.connection, "payload_sent", False))
            raise

    def _log(self, message, **values) -> None:
        super()._log(message, **values)
        if values["outcome"] in (DeliveryOutcome.SENT, DeliveryOutcome.FAILED_OVER):
            self.result = Result(
                OutboxState.SENT,
                profile_pk=values["profile_pk"],
                profile_name=values["profile_name"],
                sender=values["sender"],
            )

    def _fail(self, email_message, attempts, started, last_error, last_tried=None):
        step = attempts[-1].step if attempts else ""
        state = outcome_of(last_error, step, self.payload_sent)
        if state == OutboxState.DEFERRED and self.last_chance:
            state = OutboxState.FAILED
        self._log_failure(email_message, attempts, started, last_tried, _LOG_OUTCOME[state])
        self.result = Result(
            state,
            step=step,
            error=attempts[-1].error if attempts else describe_error(last_error),
            profile_pk=last_tried.pk if last_tried is not None else None,
            profile_name=attempts[-1].profile if attempts else "",
        )
        if state == OutboxState.FAILED:
            report_failure(type(self), email_message, attempts)
        return False


def _route(row: OutboxMessage) -> tuple[str, bool | None]:
    return (row.requested_profile, row.failover)


def _in_route(route):
    requested_profile, failover = route
    rows = OutboxMessage.objects.using(router.db_for_write(OutboxMessage)).filter(
        requested_profile=requested_profile
    )
    return (
        rows.filter(failover__isnull=True) if failover is None else rows.filter(failover=failover)
    )


def _waiting(route) -> OutboxMessage | None:
    """The route's message that waits for its server, due soonest (None: not waiting)."""
    return (
        _in_route(route)
        .filter(
            state=OutboxState.DEFERRED,
            last_step__in=CONNECTION_STEPS,
            next_attempt_at__gt=timezone.now(),
        )
        .order_by("next_attempt_at")
        .first()
    )


def _wake(route) -> int:
    """Make the route's messages that wait for its server due now (it answers again)."""
    return (
        _in_route(route)
        .filter(state=OutboxState.DEFERRED, last_step__in=CONNECTION_STEPS)
        .update(next_attempt_at=timezone.now())
    )


def _waiting_fields(waiting_for: OutboxMessage | Result, when) -> dict:
    step = waiting_for.last_step if isinstance(waiting_for, OutboxMessage) else waiting_for.step
    error = waiting_for.last_error if isinstance(waiting_for, OutboxMessage) else waiting_for.error
    return {
        "state": OutboxState.DEFERRED,
        "next_attempt_at": when,
        "last_step": step,
        "last_error": error,
    }


def _result_fields(row: OutboxMessage, result: Result, summary: Summary) -> dict:
    now = timezone.now()
    fields = {
        "state": result.state,
        "profile_id": result.profile_pk,
        "profile_name": result.profile_name[:100],
        "last_step": result.step[:20],
        "last_error": result.error,
    }
    if result.sender:
        fields["sender"] = result.sender[:998]
    if result.state == OutboxState.SENT:
        fields.update(sent_at=now, finished_at=now, content_encrypted="")
    elif result.state == OutboxState.DEFERRED:
        fields["next_attempt_at"] = now + delay(row.attempts)
        summary.defer_until(fields["next_attempt_at"])
    else:
        fields["finished_at"] = now
    return fields


def _sender_for(route, senders: dict) -> OutboxSender:
    """The route's sender: the one kept from the drain's previous batch while the profiles
    are unchanged (its connection stays open: opening one costs TCP, TLS, two EHLOs and
    AUTH), else a new one."""
    profiles = enabled_profiles()
    kept = senders.pop(route, None)
    if kept is not None:
        kept_profiles, sender = kept
        if kept_profiles is profiles:
            sender.next_batch()
            senders[route] = kept
            return sender
        _close(sender)
    sender = OutboxSender(*route)
    senders[route] = (profiles, sender)
    return sender


def _send_route(
    route, rows: list[OutboxMessage], recorder: BatchRecorder, summary, senders: dict
) -> None:
    waiting = _waiting(route)
    ended: list[tuple[OutboxMessage, Result]] = []  # failed or unknown: alerts, once recorded
    try:
        sender = _sender_for(route, senders)
    except (ProfileNotFound, SecretUnreadable) as exc:
        for row in rows:
            recorder.start(row)
            result = Result(OutboxState.DEFERRED, step="auth", error=str(exc))
            if gives_up(row.attempts, row.created_at):
                result.state = OutboxState.FAILED
            recorder.finish(row, _result_fields(row, result, summary), [])
            summary.count(result.state)
            log_event(
                logging.WARNING,
                "send",
                "Queued message %s %s: its SMTP profile cannot be used.",
                row.pk,
                result.state,
                profile=row.requested_profile or None,
                step=result.step,
                outcome=str(result.state),
                message_id=row.message_id or None,
                via=OutboxSender.log_via,
            )
            if result.state == OutboxState.FAILED:
                ended.append((row, result))
        _alert(recorder, ended)
        return
    down: Result | None = None
    down_until = None
    sent_any = False
    recorder.plan([row for row in rows if waiting is None or row.attempts])
    try:
        for row in rows:
            if waiting is not None and row.attempts == 0:
                # New mail waits behind the route's older mail for the server to answer.
                recorder.release(row, _waiting_fields(waiting, waiting.next_attempt_at))
                summary.count(OutboxState.DEFERRED)
                continue
            if down is not None:
                recorder.release(row, _waiting_fields(down, down_until))
                summary.count(OutboxState.DEFERRED)
                continue
            result = _send_one(sender, row, recorder)
            fields = _result_fields(row, result, summary)
            recorder.finish(row, fields, sender.take_log_rows())
            summary.count(result.state)
            if result.state == OutboxState.SENT:
                sent_any = True
            elif result.state == OutboxState.DEFERRED and result.step in CONNECTION_STEPS:
                down, down_until = result, fields["next_attempt_at"]
            elif result.state in (OutboxState.FAILED, OutboxState.UNKNOWN):
                ended.append((row, result))
    except BaseException:
        senders.pop(route, None)
        _close(sender)
        raise
    _alert(recorder, ended)
    if sent_any and waiting is not None:
        recorder.flush()  # the messages released to wait above are woken too
        _wake(route)


def _close(sender: OutboxSender) -> None:
    """Give the connection back to the pool (QUIT with the pool off, worn out or after a
    profile change); a server that answers QUIT badly has had every message it was sent."""
    try:
        sender.close()
    except Exception as exc:  # noqa: BLE001 - the batch's outcomes are what matter
        logger.warning("Closing an SMTP connection after a batch failed: %s", exc)
        sender.connection = None


def _alert(recorder: BatchRecorder, ended: list[tuple[OutboxMessage, Result]]) -> None:
    """Tell the administrators about messages that failed or ended unknown, once their
    outcome is recorded (the admin page an alert links to shows it)."""
    if ended:
        recorder.flush()
        for row, result in ended:
            alerts.message_failed(row, result)


def _send_one(sender: OutboxSender, row: OutboxMessage, recorder: BatchRecorder) -> Result:
    try:
        email_message = load(row)
    except Exception as exc:  # noqa: BLE001 - an unreadable message can never be sent
        recorder.start(row)
        return Result(OutboxState.FAILED, step="data", error=describe_error(exc))
    recorder.start(row)
    sender.last_chance = gives_up(row.attempts, row.created_at)
    try:
        return sender.send(email_message)
    except Exception as exc:  # noqa: BLE001 - one bad message must not stop the batch
        payload_sent = bool(getattr(sender.connection, "payload_sent", False))
        state = OutboxState.UNKNOWN if payload_sent else OutboxState.FAILED
        target = sender._connected_to
        log_event(
            logging.ERROR,
            "send",
            "Could not send queued message %s.",
            row.pk,
            profile=target.name if target is not None else None,
            profile_pk=target.pk if target is not None else None,
            step="data",
            outcome=str(state),
            message_id=row.message_id or None,
            via=OutboxSender.log_via,
            exc_info=True,
        )
        sender._discard_connection()
        return Result(state, step="data", error=describe_error(exc))


def send_batch(rows: list[OutboxMessage], summary: Summary, senders: dict | None = None) -> None:
    """Send a claimed batch, route by route, recording every outcome.

    ``senders`` keeps each route's sender (and its connection) for the next batch;
    without it, the connections are closed when the batch ends.
    """
    if not rows:
        return
    recorder = BatchRecorder(rows[0].claim)
    own = senders is None
    senders = {} if own else senders
    try:
        ordered = sorted(rows, key=lambda row: (row.requested_profile, str(row.failover)))
        for route, group in groupby(ordered, key=_route):
            group = sorted(group, key=lambda r: (r.created_at, r.pk))
            _send_route(route, group, recorder, summary, senders)
    finally:
        recorder.flush()
        if own:
            _close_all(senders)


def _close_all(senders: dict) -> None:
    for _profiles, sender in senders.values():
        _close(sender)
    senders.clear()


def drain(time_limit: float = 60.0) -> Summary:
    """Send due messages, a batch at a time, until none is due or ``time_limit`` is spent."""
    summary = Summary()
    expire_claims()
    deadline = time.monotonic() + time_limit
    batch_size = int(get_setting("OUTBOX_BATCH_SIZE"))
    senders: dict = {}  # one connection per route for the whole drain (see _sender_for)
    try:
        while True:
            if time.monotonic() >= deadline:
                summary.more = True
                break
            rows = claim(batch_size)
            if not rows:
                break
            summary.claimed += len(rows)
            send_batch(rows, summary, senders)
    finally:
        _close_all(senders)
    return summary


def next_deferred_attempt():
    """When the earliest deferred message is due (None: nothing is deferred)."""
    return (
        OutboxMessage.objects.using(router.db_for_write(OutboxMessage))
        .filter(state=OutboxState.DEFERRED)
        .order_by("next_attempt_at")
        .values_list("next_attempt_at", flat=True)
        .first()
    )
