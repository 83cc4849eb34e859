"""The profile's OAuth2 secrets: the client secret and the refresh token, sealed like the
password, to the mail server *and* the token endpoint they may be sent to."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from .. import secret_binding
from ..exceptions import SecretUnreadable
from ..providers.oauth import Endpoints, OAuthGrant, endpoints
from ..transport.tokens import TokenRequest

_COLUMNS = {
    "oauth_client_secret": "oauth_client_secret_encrypted",
    "oauth_refresh_token": "oauth_refresh_token_encrypted",
}


class OAuthSecretsMixin:
    """``oauth_client_secret`` and ``oauth_refresh_token`` over their sealed columns."""

    def oauth_destination(self) -> str:
        """The digest of the settings the OAuth2 secrets are sealed to."""
        return secret_binding.oauth_destination_of_object(self)

    def _sealed(self, name: str) -> str:
        token = getattr(self, _COLUMNS[name])
        if not token:
            return ""
        unsaved = self.__dict__.get(f"_unsaved_{name}")
        if unsaved is not None:
            return unsaved
        return secret_binding.unseal(token, self.oauth_destination())

    def _seal(self, name: str, value: str | None) -> None:
        if value:
            setattr(self, _COLUMNS[name], secret_binding.seal(value, self.oauth_destination()))
            self.__dict__[f"_unsaved_{name}"] = value  # sealed again in save()
        else:
            setattr(self, _COLUMNS[name], "")
            self.__dict__.pop(f"_unsaved_{name}", None)

    @property
    def oauth_client_secret(self) -> str:
        """The client secret ('' when none); only for the settings it was entered with."""
        return self._sealed("oauth_client_secret")

    @oauth_client_secret.setter
    def oauth_client_secret(self, value: str | None) -> None:
        self._seal("oauth_client_secret", value)

    @property
    def oauth_refresh_token(self) -> str:
        """The connected account's refresh token ('' before it is connected)."""
        return self._sealed("oauth_refresh_token")

    @oauth_refresh_token.setter
    def oauth_refresh_token(self, value: str | None) -> None:
        self._seal("oauth_refresh_token", value)

    def seal_new_oauth_secrets(self) -> None:
        """Seal the secrets assigned since loading to the settings the profile has now."""
        for name, column in _COLUMNS.items():
            unsaved = self.__dict__.pop(f"_unsaved_{name}", None)
            if unsaved and getattr(self, column):
                setattr(self, column, secret_binding.seal(unsaved, self.oauth_destination()))

    def oauth_endpoints(self) -> Endpoints:
        """The provider's endpoints and scope for this profile (its own where it names them)."""
        return endpoints(
            self.oauth_provider,
            tenant=self.oauth_tenant,
            grant=self.oauth_grant,
            authorize_url=self.oauth_authorization_endpoint,
            token_url=self.oauth_token_endpoint,
            device_code_url=self.oauth_device_authorization_endpoint,
            scope=self.oauth_scopes,
        )

    def token_request(self) -> TokenRequest | None:
        """How to ask the provider for an access token (None before an account is
        connected); reading the secrets may raise :class:`SecretUnreadable` (with a
        message that names this profile)."""
        found = self.oauth_endpoints()
        app_only = self.oauth_grant == OAuthGrant.CLIENT_CREDENTIALS
        try:
            secret = self.oauth_client_secret
            refresh = "" if app_only else self.oauth_refresh_token
        except secret_binding.SecretBoundElsewhere:
            raise secret_binding.SecretBoundElsewhere(
                _(
                    "SMTP profile “%(name)s”: its OAuth2 client secret and refresh token were "
                    "entered for another server or token endpoint (the settings changed since). "
                    "Type the client secret again and connect the account again."
                )
                % {"name": self.name}
            ) from None
        except SecretUnreadable:
            raise SecretUnreadable(
                _(
                    "SMTP profile “%(name)s”: its OAuth2 secrets cannot be decrypted with the "
                    "configured encryption keys. Type the client secret again and connect the "
                    "account again."
                )
                % {"name": self.name}
            ) from None
        if not app_only and not refresh:
            return None  # no account connected yet: the login says so
        return TokenRequest(
            token_url=found.token_url,
            client_id=self.oauth_client_id,
            grant_type=self.oauth_grant,
            scope=found.scope,
            client_secret=secret,
            refresh_token=refresh,
            on_rotated=self._store_rotated_refresh_token if self.pk else None,
            stored_refresh_token=self._stored_refresh_token if self.pk else None,
        )

    def _stored_refresh_token(self) -> str:
        """The refresh token stored now ('' when it cannot be read): another worker may
        have stored a rotated one since this profile was loaded."""
        current = type(self).objects.filter(pk=self.pk).first()
        if current is None:
            return ""
        try:
            return current.oauth_refresh_token
        except SecretUnreadable:
            return ""

    def _store_rotated_refresh_token(self, old: str, new: str) -> None:
        """The provider rotated the refresh token: keep the newer one, atomically.

        Compare-and-set on the sealed value that was read: when two workers
        refresh at once, the one whose old token is no longer stored changes
        nothing, so the newer token is never overwritten by an older one.
        """
        model = type(self)
        with transaction.atomic():
            current = model.objects.select_for_update().filter(pk=self.pk).first()
            if current is None or current.oauth_refresh_token != old:
                return
            current.oauth_refresh_token = new
            current.seal_new_oauth_secrets()
            model.objects.filter(pk=self.pk).update(
                oauth_refresh_token_encrypted=current.oauth_refresh_token_encrypted,
                oauth_connected_at=current.oauth_connected_at or timezone.now(),
            )
