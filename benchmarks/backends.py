"""Both backends the benchmarks compare, pointed at one server: Django's ``smtp.EmailBackend``
by its settings, smtpconfig's by a default profile (call after ``django.setup()``)."""

from __future__ import annotations


def point_both_backends_at(port: int) -> None:
    """Django's backend (by settings) and a default profile to a plain server at
    127.0.0.1:``port``, without login, both with a 10 s timeout."""
    from django.conf import settings

    from smtpconfig.models import Security, SMTPProfile

    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", port, 10
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
    settings.DEFAULT_FROM_EMAIL = "noreply@example.com"
    SMTPProfile.objects.create(
        name="Bench",
        host="127.0.0.1",
        port=port,
        security=Security.NONE,
        from_email="noreply@example.com",
        is_default=True,
    )
