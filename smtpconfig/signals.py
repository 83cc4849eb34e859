"""Signals the host app can connect to, for alerts.

``failover``: a profile failed and the next one is being tried. Arguments:
``failed_profile`` and ``next_profile`` (names), ``error`` (what went wrong,
in the diagnosis's words), ``step`` (where: connect, tls, auth, rcpt…),
``server`` (the failed profile's ``host:port``) and ``message`` (the
EmailMessage, or None when the failure happened while opening a connection).
The app's own alerts (:mod:`smtpconfig.outbox.alerts`) listen to it.

``delivery_failed``: every profile tried failed and the message was not
sent. Arguments: ``message``, ``attempts`` (a list of ``(profile name,
error)``) and ``error`` (the whole story in one sentence).

``messages_queued``: messages were written to the outbox, sent when their
transaction commits (or inside it, when the task backend keeps its queue in the
same database, so that the trigger commits or rolls back with them). Argument:
``message_ids`` (keys of ``OutboxMessage`` rows). The app wakes a worker with it.

``profiles_updated`` (internal): profiles were changed with
``QuerySet.update()``, which sends no ``post_save``.
"""

from django.dispatch import Signal

failover = Signal()
delivery_failed = Signal()
messages_queued = Signal()
profiles_updated = Signal()
