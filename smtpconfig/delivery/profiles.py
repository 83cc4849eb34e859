"""Which profiles a message goes through, from a per-process snapshot of the profiles.

The enabled profiles are read and their passwords decrypted once per change,
not once per message: :func:`enabled_profiles` keeps them in the process and
only checks that they are still current, once per connection the backend
opens. That check reads one row, :class:`~smtpconfig.models.ProfilesVersion`,
which triggers in the database change on any change to the profiles table,
made with ``save()``, ``QuerySet.update()``, another process or raw SQL.
(On a database without those triggers it compares ``MAX(updated_at)`` and
``COUNT(*)``, which ``update()`` and raw SQL can leave unchanged.)

With ``SMTPCONFIG["CACHE"]`` (a Django cache shared by every process) the
check makes no query: saves, updates and deletes through Django announce
themselves there, and the value is read from the database again every few
seconds, so that raw SQL is seen within that time.
"""

from __future__ import annotations

import secrets
import threading
from dataclasses import dataclass

from django.core.cache import caches
from django.db import connections, router
from django.utils.translation import gettext as _

from ..conf import get_setting
from ..exceptions import ProfileNotFound, SecretUnreadable
from ..models import ProfilesVersion, SMTPProfile
from ..transport.settings import ConnectionSettings

_GENERATION_KEY = "smtpconfig:profiles:generation"
# With a shared cache, how long a generation read from the database is trusted before
# the next connection reads it again (bounds how late raw SQL changes are seen).
_CACHED_GENERATION_SECONDS = 5
# Databases on which migration 0007 keeps ProfilesVersion with triggers.
_VERSIONED_VENDORS = ("sqlite", "postgresql")


@dataclass(frozen=True)
class ResolvedProfile:
    """A profile as the backend needs it: its connection settings (the password decrypted
    once) and what failover and routing need."""

    pk: int
    name: str
    settings: ConnectionSettings
    #: Why the stored password cannot be used ('' when it can).
    password_error: str
    priority: int
    is_default: bool
    sender_domains: tuple[str, ...]
    #: ``Display Name <address>``, formatted once (parsing the address is not free).
    sender: str

    @classmethod
    def from_profile(cls, profile: SMTPProfile) -> ResolvedProfile:
        try:
            settings, password_error = profile.connection_settings(), ""
        except SecretUnreadable as exc:
            settings = ConnectionSettings.from_profile(profile, secrets=False)
            password_error = str(exc)
        return cls(
            pk=profile.pk,
            name=profile.name,
            settings=settings.replace(host=settings.connect_host),
            password_error=password_error,
            priority=profile.priority,
            is_default=profile.is_default,
            sender_domains=tuple(profile.sender_domain_list),
            sender=settings.sender,
        )

    @property
    def server(self) -> str:
        return self.settings.server

    @property
    def reply_to(self) -> str:
        return self.settings.reply_to


class _Snapshot:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.generation: object = None
        self.profiles: tuple[ResolvedProfile, ...] = ()


_snapshot = _Snapshot()


def _shared_cache():
    alias = get_setting("CACHE")
    return caches[alias] if alias else None


def _current_generation() -> object:
    """A value that changes whenever any profile changes (compared, never interpreted)."""
    cache = _shared_cache()
    if cache is None:
        return _database_generation()
    generation = cache.get(_GENERATION_KEY)
    if generation is None:
        # Expired (or evicted, or never set): seed it from the database, so that a
        # change no signal announced (raw SQL) is seen within the key's lifetime.
        generation = ("db", _database_generation())
        cache.add(_GENERATION_KEY, generation, timeout=_CACHED_GENERATION_SECONDS)
        generation = cache.get(_GENERATION_KEY, generation)
    return generation


def _database_generation() -> object:
    database = router.db_for_read(SMTPProfile)
    connection = connections[database]
    quote = connection.ops.quote_name
    if connection.vendor in _VERSIONED_VENDORS:
        # Kept by triggers on the profiles table (migration 0007): any change, any way.
        sql = (
            f"SELECT {quote('value')} FROM "  # noqa: S608 (model names only)
            f"{quote(ProfilesVersion._meta.db_table)} WHERE {quote('id')} = 1"
        )
        row = _fetch_generation(database, sql)
        return row if row is not None else "no version yet"
    # Elsewhere: any save touches updated_at (auto_now); a delete changes the count.
    sql = (
        f"SELECT MAX({quote('updated_at')}), COUNT(*) "  # noqa: S608 (model names only)
        f"FROM {quote(SMTPProfile._meta.db_table)}"
    )
    return _fetch_generation(database, sql)


def _fetch_generation(database: str, sql: str) -> tuple | None:
    """Run the freshness query as cheaply as the database driver allows.

    This runs for every connection the backend opens, against a local relay
    next to a conversation of ~1.7 ms: through Django's ORM it cost ~0.5 ms,
    through Django's cursor ~75 µs, through the DB-API cursor ~35 µs
    (benchmarks/bench_backend.py). So it uses the DB-API cursor, which Django's
    query logging does not see, and falls back to Django's cursor (with its
    reconnection handling and error types) if the driver complains.
    """
    connection = connections[database]
    try:
        connection.ensure_connection()
        cursor = connection.connection.cursor()
        try:
            cursor.execute(sql)
            row = cursor.fetchone()
            return tuple(row) if row is not None else None
        finally:
            cursor.close()
    except Exception:  # noqa: BLE001 - retried below the way Django does it
        with connection.cursor() as cursor:
            cursor.execute(sql)
            row = cursor.fetchone()
            return tuple(row) if row is not None else None


def enabled_profiles() -> tuple[ResolvedProfile, ...]:
    """The enabled profiles in failover order (default, then priority, then name)."""
    # The generation is read before the profiles, so that a change made in
    # between is seen as new at the next call rather than hidden.
    generation = _current_generation()
    with _snapshot.lock:
        if _snapshot.generation == generation:
            return _snapshot.profiles
    profiles = tuple(
        ResolvedProfile.from_profile(profile) for profile in SMTPProfile.objects.in_sending_order()
    )
    with _snapshot.lock:
        _snapshot.generation, _snapshot.profiles = generation, profiles
    return profiles


def snapshot_generation() -> object:
    """The generation of the snapshot :func:`enabled_profiles` last returned (no query):
    a connection opened under another one is not reused (see :mod:`.pool`)."""
    return _snapshot.generation


def profiles_changed(**kwargs) -> None:
    """Signal receiver: profiles were saved, updated or deleted; every process must reload."""
    with _snapshot.lock:
        _snapshot.generation = None
    cache = _shared_cache()
    if cache is not None:
        cache.set(_GENERATION_KEY, secrets.token_hex(8), timeout=_CACHED_GENERATION_SECONDS)


def named_profile(name: str, profiles: tuple[ResolvedProfile, ...]) -> ResolvedProfile:
    """The enabled profile called ``name``; :class:`ProfileNotFound` says why not."""
    for profile in profiles:
        if profile.name == name:
            return profile
    disabled = SMTPProfile.objects.filter(name=name, enabled=False).exists()
    available = ", ".join(profile.name for profile in profiles)
    raise ProfileNotFound(
        (
            _("SMTP profile “%(name)s” is disabled.")
            if disabled
            else _("There is no SMTP profile named “%(name)s”.")
        )
        % {"name": name}
        + " "
        + (
            _("Enabled profiles: %(names)s.") % {"names": available}
            if available
            else _("No profile is enabled.")
        )
    )
