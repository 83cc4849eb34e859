"""Every secret a profile stores, by column: what key rotation and the key checks go over."""

from __future__ import annotations

from collections.abc import Iterator
from typing import NamedTuple

from django.db.models import Q

#: The encrypted columns of SMTPProfile, each sealed to a destination (secret_binding).
SECRET_COLUMNS = (
    "password_encrypted",
    "oauth_client_secret_encrypted",
    "oauth_refresh_token_encrypted",
)


class StoredSecret(NamedTuple):
    """One stored secret: whose, in which column, and its ciphertext (never the secret)."""

    profile: object
    column: str
    token: str


def stored_secrets(queryset) -> Iterator[StoredSecret]:
    """Each non-empty secret column of the profiles in ``queryset``."""
    has_any = Q()
    for column in SECRET_COLUMNS:
        has_any |= ~Q(**{column: ""})
    for profile in queryset.filter(has_any).order_by("pk"):
        for column in SECRET_COLUMNS:
            token = getattr(profile, column)
            if token:
                yield StoredSecret(profile, column, token)
