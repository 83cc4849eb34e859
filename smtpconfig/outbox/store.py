"""Writing messages to the outbox, and reading them back for a worker.

A message is stored as its pickled ``EmailMessage`` (any subclass, its
attachments and alternatives), encrypted with the app's keys (Fernet, so it
is also authenticated: only a holder of the key can produce content a worker
will unpickle). Its Message-ID and Date are fixed when it is queued, so that
every attempt sends the same message.
"""

from __future__ import annotations

import copy
import logging
import pickle
import smtplib
from email.utils import formatdate
from functools import partial

from django.apps import apps
from django.conf import settings
from django.core.mail.message import DNS_NAME, make_msgid
from django.db import DatabaseError, router, transaction
from django.utils.translation import gettext as _
from django.views.decorators.debug import sensitive_variables

from .. import signals
from ..conf import get_setting
from ..crypto import decrypt_bytes, encrypt_bytes
from ..models import OutboxMessage

try:  # Django 6.0 has the task framework; on 5.2 the django-tasks backport provides it.
    from django.tasks import task_backends
except ImportError:
    from django_tasks import task_backends

logger = logging.getLogger("smtpconfig")

_MAX_FIELD = 998


class OutboxUnavailable(smtplib.SMTPException):
    """The outbox could not store a message (its database did not answer): nothing was queued."""


def _header(message, name: str) -> str:
    for key, value in (message.extra_headers or {}).items():
        if key.lower() == name.lower():
            return str(value)
    return ""


@sensitive_variables("content")
def _row_for(email_message, requested_profile: str, failover: bool | None) -> OutboxMessage:
    stored = copy.copy(email_message)
    stored.connection = None  # a backend holds sockets and locks; the worker brings its own
    stored.extra_headers = dict(email_message.extra_headers or {})
    message_id = _header(stored, "Message-ID")
    if not message_id:
        message_id = make_msgid(domain=DNS_NAME)
        stored.extra_headers["Message-ID"] = message_id
    if not _header(stored, "Date"):
        stored.extra_headers["Date"] = formatdate(localtime=settings.EMAIL_USE_LOCALTIME)
    content = pickle.dumps(stored, protocol=pickle.HIGHEST_PROTOCOL)
    return OutboxMessage(
        requested_profile=requested_profile or "",
        failover=failover,
        sender=str(email_message.from_email or "")[:_MAX_FIELD],
        recipients=", ".join(str(address) for address in email_message.recipients()),
        subject=str(email_message.subject or "")[:_MAX_FIELD],
        message_id=message_id[:_MAX_FIELD],
        size=len(content),
        content_encrypted=encrypt_bytes(content),
    )


def enqueue(email_messages, *, requested_profile: str = "", failover: bool | None = None) -> list:
    """Write ``email_messages`` to the outbox in the caller's transaction; return their keys.

    Workers are woken when that transaction commits (``signals.messages_queued``);
    a rolled-back transaction leaves nothing to send. When the task backend keeps
    its queue in the same database (django-tasks-db), the trigger is written in
    that transaction instead: one commit rather than two, and it commits or rolls
    back with the messages. Messages without recipients
    are skipped, as Django's backends skip them. Raises :class:`OutboxUnavailable`
    when the database does not answer: the caller learns that nothing was queued.
    """
    rows = [
        _row_for(message, requested_profile, failover)
        for message in email_messages
        if message.recipients()
    ]
    if not rows:
        return []
    database = router.db_for_write(OutboxMessage)
    try:
        with transaction.atomic(using=database):
            created = OutboxMessage.objects.using(database).bulk_create(rows)
            keys = [row.pk for row in created]
            if _trigger_joins_transaction(database):
                with transaction.atomic(using=database):  # a failed trigger spoils nothing
                    _announce(keys)
            else:
                transaction.on_commit(partial(_announce, keys), using=database, robust=True)
    except DatabaseError as exc:
        logger.error("Could not queue %d message(s) in the outbox: %s", len(rows), exc)
        raise OutboxUnavailable(
            _(
                "The message could not be queued for sending: the database did not answer "
                "(%(error)s). Nothing was sent; try again when the database is back."
            )
            % {"error": exc}
        ) from exc
    return keys


def _trigger_joins_transaction(database: str) -> bool:
    """Whether the task backend writes its triggers to ``database`` (django-tasks-db's)."""
    try:
        backend = task_backends[get_setting("TASK_BACKEND")]
    except Exception:  # noqa: BLE001 - a broken TASKS setting: wake() reports it at commit
        return False
    if type(backend).__name__ != "DatabaseBackend" or not apps.is_installed("django_tasks_db"):
        return False
    trigger_model = apps.get_model("django_tasks_database", "DBTaskResult")
    return router.db_for_write(trigger_model) == database


def _announce(keys: list) -> None:
    signals.messages_queued.send(sender=OutboxMessage, message_ids=keys)


@sensitive_variables("content")
def load(row: OutboxMessage):
    """The ``EmailMessage`` stored in ``row`` (raises ``SecretUnreadable`` without its key)."""
    content = decrypt_bytes(row.content_encrypted)
    return pickle.loads(content)  # noqa: S301 - authenticated by the app's key (see above)
