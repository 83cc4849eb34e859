"""The admin: SMTP profiles (list, form, tests, detection) and the delivery log.

One module a job: ``profiles`` (the profile admin and its URLs), ``views``
(test, detect, use a candidate's settings), ``columns`` (the list),
``history`` (what the admin history records), ``banners``, ``presenters``
(what the report templates need), ``ratelimit``, ``delivery_log``, and the
outbox: ``outbox`` (the list and a message's page), ``outbox_actions`` ("Send
now", "Cancel", "Resend") and ``queue_status`` (its counts and the banner when no
worker runs, for the index and the profile list).
"""

from .delivery_log import DeliveryLogAdmin
from .outbox import OutboxMessageAdmin
from .profiles import SMTPProfileAdmin

__all__ = ["DeliveryLogAdmin", "OutboxMessageAdmin", "SMTPProfileAdmin"]
