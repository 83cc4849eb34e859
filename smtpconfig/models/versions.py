"""A row that changes whenever any profile changes (kept by database triggers)."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


class ProfilesVersion(models.Model):
    """One row whose value changes whenever any SMTP profile changes, however it changes.

    Database triggers (migration 0007, on SQLite and PostgreSQL) write a new
    random value on every insert, update, delete or truncate of the profiles
    table: a change made with ``save()``, ``QuerySet.update()``, another
    process or raw SQL alike. Each process compares it, once per connection
    it opens, with the value its snapshot of the profiles was read at.
    """

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    value = models.BigIntegerField(default=0)

    class Meta:
        verbose_name = _("profiles version")
        default_permissions = ()

    def __str__(self) -> str:
        return str(self.value)
