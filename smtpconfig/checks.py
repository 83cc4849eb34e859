"""System checks: ``python manage.py check`` reports what would break sending."""

from __future__ import annotations

from django.conf import settings
from django.core import checks
from django.db import DatabaseError
from django.utils.module_loading import import_string

from . import crypto
from .conf import ENCRYPTION_KEYS_ENV, get_setting, unknown_options
from .error_reports import SecretSafeExceptionReporterFilter
from .exceptions import InvalidEncryptionKey
from .models import SMTPProfile
from .models.stored_secrets import stored_secrets
from .providers.readiness import profiles_to_switch

try:  # Django 6.0 has the task framework; on 5.2 the django-tasks backport provides it.
    from django.tasks import task_backends
except ImportError:
    from django_tasks import task_backends

_KEY_HINT = (
    "Make a key with 'python manage.py smtp_generate_key' and set it in the environment "
    f"variable {ENCRYPTION_KEYS_ENV} (or in SMTPCONFIG['ENCRYPTION_KEYS']). Keep it outside "
    "the database and back it up: stored SMTP passwords cannot be read without it."
)


@checks.register(checks.Tags.security)
def check_encryption_keys(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    """E001/W001: no key; E002: a key that is not a valid Fernet key."""
    try:
        keys = crypto.configured_keys()
    except Exception as exc:  # noqa: BLE001 - a broken setting is reported, not raised
        return [checks.Error(str(exc), id="smtpconfig.E003")]
    if not keys:
        if settings.DEBUG:
            return [
                checks.Warning(
                    "No encryption key is configured: SMTP passwords cannot be stored.",
                    hint=_KEY_HINT,
                    id="smtpconfig.W001",
                )
            ]
        return [
            checks.Error(
                "No encryption key is configured for stored SMTP passwords.",
                hint=_KEY_HINT,
                id="smtpconfig.E001",
            )
        ]
    try:
        crypto._fernet_for(tuple(keys))
    except InvalidEncryptionKey as exc:
        return [checks.Error(str(exc), hint=_KEY_HINT, id="smtpconfig.E002")]
    return []


@checks.register()
def check_settings(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    """W002: an SMTPCONFIG option that does not exist (a typo is ignored otherwise)."""
    return [
        checks.Warning(
            f"SMTPCONFIG has an unknown option {name!r}.",
            hint="See the list of options in smtpconfig/conf.py or the README.",
            id="smtpconfig.W002",
        )
        for name in unknown_options()
    ]


@checks.register(checks.Tags.security)
def check_stored_secrets(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    """W003: secrets (passwords, OAuth2 client secrets, refresh tokens) under an old key;
    W004: secrets no configured key can read; W005: passwords not sealed to their
    profile's current server settings."""
    try:
        keys = crypto.configured_keys()
        if not keys:
            return []  # E001/W001 already say so
        crypto._fernet_for(tuple(keys))
        secrets = list(stored_secrets(SMTPProfile.objects.all()))
    except (DatabaseError, InvalidEncryptionKey):
        return []  # no table yet (before migrate), or E002 already says so
    old = _names(
        secret
        for secret in secrets
        if not crypto.is_current(secret.token) and crypto.can_decrypt(secret.token)
    )
    lost = _names(secret for secret in secrets if not crypto.can_decrypt(secret.token))
    elsewhere = _names(
        secret
        for secret in secrets
        if secret.column == "password_encrypted" and secret.profile.password_bound_elsewhere
    )
    messages = []
    if old:
        messages.append(
            checks.Warning(
                f"Stored SMTP secrets of {len(old)} profile(s) are still encrypted with an "
                f"old key ({', '.join(old)}).",
                hint="Run 'python manage.py smtp_rotate_key', then remove the old key from "
                "SMTPCONFIG['ENCRYPTION_KEYS'].",
                id="smtpconfig.W003",
            )
        )
    if lost:
        messages.append(
            checks.Warning(
                f"Stored SMTP secrets of {len(lost)} profile(s) cannot be decrypted with any "
                f"configured key ({', '.join(lost)}).",
                hint="Add the key they were encrypted with to SMTPCONFIG['ENCRYPTION_KEYS'], "
                "or type the passwords and client secrets again in the admin (and connect "
                "OAuth2 accounts again).",
                id="smtpconfig.W004",
            )
        )
    if elsewhere:
        messages.append(
            checks.Warning(
                f"{len(elsewhere)} stored SMTP password(s) are not used: they were saved by an "
                "older version, or their profile's server settings changed since they were "
                f"entered ({', '.join(elsewhere)}).",
                hint="Run 'python manage.py smtp_rotate_key' to seal passwords saved by an older "
                "version to their profile's server; otherwise type the password again in the "
                "admin.",
                id="smtpconfig.W005",
            )
        )
    return messages


def _names(secrets) -> list[str]:
    """The profiles' names, each once, in order."""
    return list(dict.fromkeys(secret.profile.name for secret in secrets))


_REPORTER_FILTER = "smtpconfig.error_reports.SecretSafeExceptionReporterFilter"


@checks.register(checks.Tags.security)
def check_error_reports(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    """W006: error reports (the debug page, mails to ADMINS) may show a typed password."""
    try:
        configured = import_string(settings.DEFAULT_EXCEPTION_REPORTER_FILTER)
    except ImportError:
        configured = None
    if configured is not None and issubclass(configured, SecretSafeExceptionReporterFilter):
        return []
    return [
        checks.Warning(
            "Django's error reports can show an SMTP password typed into the profile form "
            "or an encryption key (with DEBUG on, its filter is off).",
            hint=f"Set DEFAULT_EXCEPTION_REPORTER_FILTER = {_REPORTER_FILTER!r}.",
            id="smtpconfig.W006",
        )
    ]


@checks.register()
def check_password_sign_in_ending(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    """W007: a profile signs in with a password where Microsoft is switching it off.

    Microsoft's servers are known by the host, or by the MX records of the domain whose own
    name the host is (cached; a DNS failure names no one)."""
    try:
        profiles = list(SMTPProfile.objects.enabled().exclude(username=""))
    except DatabaseError:
        return []  # no table yet (before migrate)
    return [
        checks.Warning(
            str(why),
            hint="Open the profile in the admin and choose “Switch to OAuth2”.",
            obj=profile.name,
            id="smtpconfig.W007",
        )
        for profile, why in profiles_to_switch(profiles)
    ]


@checks.register()
def check_outbox_engine(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    """W008: the outbox's task backend never runs its tasks (queued mail would wait forever);
    E004: SMTPCONFIG['TASK_BACKEND'] names no TASKS backend."""
    if not _queues_mail():
        return []
    alias = get_setting("TASK_BACKEND")
    try:
        backend = task_backends[alias]
    except Exception as exc:  # noqa: BLE001 - a broken TASKS setting is reported, not raised
        return [
            checks.Error(
                f"The outbox's task backend {alias!r} (SMTPCONFIG['TASK_BACKEND']) cannot be "
                f"loaded: {exc}",
                hint="Add it to TASKS, or point SMTPCONFIG['TASK_BACKEND'] at a TASKS alias.",
                id="smtpconfig.E004",
            )
        ]
    if type(backend).__name__ == "DummyBackend":
        return [
            checks.Warning(
                f"EMAIL_BACKEND queues mail in the outbox, but the TASKS backend {alias!r} is "
                "the dummy backend, which never runs a task: mail would wait until "
                "'manage.py smtp_outbox_sweep' finds no worker either.",
                hint="Use django_tasks_db.DatabaseBackend and run 'python manage.py db_worker' "
                "(or RQ, see docs/deploy.md), or set SMTPCONFIG['QUEUE'] = False.",
                id="smtpconfig.W008",
            )
        ]
    return []


def _queues_mail() -> bool:
    return settings.EMAIL_BACKEND == "smtpconfig.backends.QueuedEmailBackend" and bool(
        get_setting("QUEUE")
    )
