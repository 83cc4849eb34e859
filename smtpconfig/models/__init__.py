"""The app's models: profiles, the row announcing their changes, the delivery log, the outbox.

``Security``, ``STANDARD_PORTS``, ``ConnectionSettings`` and the formatters
live in :mod:`smtpconfig.transport.settings` and are importable from here too.
"""

from ..transport.settings import (
    STANDARD_PORTS,
    ConnectionSettings,
    Security,
    format_sender,
    format_server,
)
from ..validators import split_domains
from .delivery_log import DeliveryLog, DeliveryOutcome
from .outbox import OutboxMessage, OutboxState
from .profile import (
    SMTPProfile,
    SMTPProfileQuerySet,
    _default_timeout,  # noqa: F401 (migration 0001 names it here)
)
from .unsaved_profile import UnsavedSMTPProfile
from .versions import ProfilesVersion

__all__ = [
    "STANDARD_PORTS",
    "ConnectionSettings",
    "DeliveryLog",
    "DeliveryOutcome",
    "OutboxMessage",
    "OutboxState",
    "ProfilesVersion",
    "SMTPProfile",
    "SMTPProfileQuerySet",
    "UnsavedSMTPProfile",
    "Security",
    "format_sender",
    "format_server",
    "split_domains",
]
