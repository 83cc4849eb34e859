"""The readiness checks: each cheap, bounded, and never saying more than a fixed reason.

Each check returns a :class:`CheckResult`: ``ok`` and a few figures or a short
reason code. Nothing here puts an exception's text in a result: the answer is
served without login, and a driver's or a server's message could hold a host
name, a user name or worse. The reason says which part to look at; the
details are in the system checks (``manage.py check``) and the admin.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.db import DatabaseError, connections, router

from .. import crypto
from ..conf import get_setting
from ..delivery.profiles import enabled_profiles
from ..exceptions import EncryptionKeyMissing, SMTPConfigImproperlyConfigured
from ..models import SMTPProfile
from ..outbox.sweep import waiting_for_worker


@dataclass
class CheckResult:
    """One check's verdict: ``ok`` (None: not run, because one it depends on failed) and
    what it may show (figures, a reason code, a profile's name and key)."""

    ok: bool | None
    details: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, **self.details}


def check_database() -> CheckResult:
    """The database answers a trivial query (the one the profiles and the outbox live in)."""
    database = router.db_for_read(SMTPProfile)
    try:
        with connections[database].cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except DatabaseError:
        return CheckResult(False, {"reason": "unavailable"})
    return CheckResult(True)


def check_encryption_key() -> CheckResult:
    """The configured keys load (at least one, each a valid Fernet key); no query."""
    try:
        crypto.load_keys()
    except EncryptionKeyMissing:
        return CheckResult(False, {"reason": "missing"})
    except SMTPConfigImproperlyConfigured:  # InvalidEncryptionKey, or no SMTPCONFIG dict
        return CheckResult(False, {"reason": "invalid"})
    return CheckResult(True)


def check_default_profile() -> CheckResult:
    """An enabled default profile exists and its stored secrets can be used.

    Read from the process's profile snapshot (:func:`enabled_profiles`), which
    decrypts each secret once per change of the profiles and otherwise costs one
    small query: a password that no configured key opens, or that was sealed to
    other server settings, fails the check, named by the profile, never shown.
    A profile without a password is fine.
    """
    try:
        profiles = enabled_profiles()
    except SMTPConfigImproperlyConfigured:
        # The keys themselves are broken (their own check names it): nothing decrypts.
        return CheckResult(False, {"reason": "secret_unreadable"})
    except DatabaseError:
        return CheckResult(False, {"reason": "database_error"})
    default = next((profile for profile in profiles if profile.is_default), None)
    if default is None:
        return CheckResult(False, {"reason": "no_default_profile"})
    details = {"profile": default.name, "profile_pk": default.pk}
    if default.password_error:
        return CheckResult(False, {**details, "reason": "secret_unreadable"})
    return CheckResult(True, details)


def check_outbox() -> CheckResult:
    """No message has waited for a worker longer than ``OUTBOX_STALE_SECONDS`` (the
    threshold of the admin's "no worker" banner and the backlog alert); one query."""
    threshold = float(get_setting("OUTBOX_STALE_SECONDS"))
    try:
        waiting, oldest = waiting_for_worker()
    except DatabaseError:
        return CheckResult(False, {"reason": "database_error"})
    details = {
        "waiting": waiting,
        "oldest_waiting_seconds": round(oldest),
        "threshold_seconds": round(threshold),
    }
    return CheckResult(oldest <= threshold, details)


#: The checks, in the order they run; the last two need the database.
CHECKS = {
    "database": check_database,
    "encryption_key": check_encryption_key,
    "default_profile": check_default_profile,
    "outbox": check_outbox,
}
_NEED_THE_DATABASE = ("default_profile", "outbox")


def run_checks(skip: frozenset[str] = frozenset()) -> dict[str, CheckResult]:
    """Every check by name, in order; those that need the database are not run without it,
    and those in ``skip`` not at all (``{"ok": null, "reason": "skipped"}``)."""
    results: dict[str, CheckResult] = {}
    for name, check in CHECKS.items():
        if name in skip:
            results[name] = CheckResult(None, {"reason": "skipped"})
        elif name in _NEED_THE_DATABASE and results.get("database", CheckResult(True)).ok is False:
            results[name] = CheckResult(None, {"reason": "database_unavailable"})
        else:
            results[name] = check()
    return results
