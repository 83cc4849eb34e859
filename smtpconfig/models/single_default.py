"""One default profile, however many requests make one the default at the same moment."""

from __future__ import annotations

from django.db import IntegrityError, transaction
from django.utils import timezone

# How often save() retries after losing a race for the default mark.
_DEFAULT_SAVE_ATTEMPTS = 5


class SingleDefaultMixin:
    """Saving a profile as the default takes the mark off the others (with ``is_default``)."""

    def save(self, *args, **kwargs) -> None:
        """Save; making this profile the default takes the mark off any other.

        Two requests making two profiles the default at the same moment are
        serialised by row locks on the profiles; should one still hit the
        database's single-default constraint (a default profile inserted at
        that moment), it tries again, its demotion now seeing the winner.
        Either way the last one saved is the default.
        """
        self.seal_new_password()
        self.seal_new_oauth_secrets()
        using = kwargs.get("using") or self._state.db or "default"
        for attempt in range(_DEFAULT_SAVE_ATTEMPTS):
            try:
                with transaction.atomic(using=using):
                    if self.is_default:
                        manager = type(self)._default_manager.using(using)
                        # Every profile's row lock, taken in one order (so no deadlock):
                        # a concurrent "make default" waits here instead of colliding.
                        list(manager.select_for_update().order_by("pk").values_list("pk"))
                        demoted = manager.filter(is_default=True)
                        if self.pk is not None:
                            demoted = demoted.exclude(pk=self.pk)
                        demoted.update(is_default=False, updated_at=timezone.now())
                    super().save(*args, **kwargs)
                return
            except IntegrityError:
                if not self.is_default or attempt == _DEFAULT_SAVE_ATTEMPTS - 1:
                    raise
                if kwargs.get("force_insert"):
                    raise
                # A default profile inserted meanwhile won the race; it is committed now.

    def validate_constraints(self, exclude=None) -> None:
        # Making a profile the default takes the mark off the others in save(),
        # so ticking "default" on a second profile is not a validation error;
        # the database constraint still guarantees a single default.
        super().validate_constraints(exclude=set(exclude or ()) | {"is_default"})
