"""The admin: SMTP profiles (list, form, tests, detection) and the delivery log.

One module a job: ``profiles`` (the profile admin and its URLs), ``views``
(test, detect, use a candidate's settings), ``columns`` (the list),
``history`` (what the admin history records), ``banners``, ``presenters``
(what the report templates need), ``ratelimit`` and ``delivery_log``.
"""

from .delivery_log import DeliveryLogAdmin
from .profiles import SMTPProfileAdmin

__all__ = ["DeliveryLogAdmin", "SMTPProfileAdmin"]
