"""The profile's password: plain text in, plain text out, ciphertext at rest, sealed to
its server (see :mod:`smtpconfig.secret_binding`)."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

from .. import crypto, secret_binding
from ..exceptions import SecretUnreadable


class SealedPasswordMixin:
    """``password`` over the ``password_encrypted`` column (with the destination fields)."""

    @property
    def password(self) -> str:
        """The plain-text password ('' when none is stored).

        The password is sealed to the server it was entered for (see
        :mod:`smtpconfig.secret_binding`): it is only returned while host,
        port, mode, plaintext permission and certificate settings are still
        the ones it was saved with. Raises
        :class:`~smtpconfig.exceptions.SecretUnreadable` (or its subclass
        ``SecretBoundElsewhere``) otherwise, or when the configured keys
        cannot decrypt it.
        """
        if not self.password_encrypted:
            return ""
        unsaved = self.__dict__.get("_unsaved_password")
        if unsaved is not None:
            return unsaved
        return secret_binding.unseal(self.password_encrypted, self.secret_destination())

    @password.setter
    def password(self, value: str | None) -> None:
        if value:
            self.password_encrypted = secret_binding.seal(value, self.secret_destination())
            # Sealed again in save(), for the server the profile has by then.
            self._unsaved_password = value
        else:
            self.password_encrypted = ""
            self.__dict__.pop("_unsaved_password", None)

    def seal_new_password(self) -> None:
        """Seal a password assigned since loading to the settings the profile has now."""
        unsaved = self.__dict__.pop("_unsaved_password", None)
        if unsaved and self.password_encrypted:
            self.password_encrypted = secret_binding.seal(unsaved, self.secret_destination())

    def secret_destination(self) -> str:
        """The digest of the server settings a stored secret is sealed to."""
        return secret_binding.destination_of_object(self)

    @property
    def has_password(self) -> bool:
        """Whether a password is stored (readable or not)."""
        return bool(self.password_encrypted)

    @property
    def password_unreadable(self) -> bool:
        """Whether a password is stored that the configured keys cannot decrypt."""
        return self.has_password and not crypto.can_decrypt(self.password_encrypted)

    @property
    def password_bound_elsewhere(self) -> bool:
        """Whether the stored password opens but was entered for other server settings."""
        return (
            self.has_password
            and not self.password_unreadable
            and not secret_binding.is_sealed_for(self.password_encrypted, self.secret_destination())
        )

    def readable_password(self) -> str:
        """The password, or raise :class:`SecretUnreadable` with an admin-facing message."""
        try:
            return self.password
        except secret_binding.SecretBoundElsewhere as exc:
            raise secret_binding.SecretBoundElsewhere(
                _("SMTP profile “%(name)s”: %(reason)s") % {"name": self.name, "reason": exc}
            ) from None
        except SecretUnreadable:
            raise SecretUnreadable(
                _(
                    "The stored password of SMTP profile “%(name)s” cannot be decrypted with "
                    "the configured encryption keys (the key was changed or lost). Open the "
                    "profile in the admin and type the password again."
                )
                % {"name": self.name}
            ) from None
