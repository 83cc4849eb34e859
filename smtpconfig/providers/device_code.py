"""Connecting an account with the device code flow (RFC 8628): no redirect URI at all.

The administrator opens the provider's page on any device and types the code
shown; meanwhile the app asks the token endpoint, every few seconds, whether
the sign-in is done. Used by ``manage.py smtp_oauth_connect`` (a server
without a browser) and by the admin page (one :func:`poll` per request of the page).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from authlib.oauth2.auth import ClientAuth
from django.utils.translation import gettext as _
from django.views.decorators.debug import sensitive_variables

from ..exceptions import TokenRefused
from ..transport.oauth_client import DEVICE_CODE_GRANT, request_token
from ..transport.oauth_http import PolicySession, refusal
from ..transport.tokens import Token
from .oauth import OAuthProvider

__all__ = ["DEVICE_CODE_GRANT", "DeviceCode", "Pending", "poll", "start", "wait_for_token"]


@dataclass(frozen=True)
class DeviceCode:
    """What the person is shown, and what the app polls with."""

    device_code: str = field(repr=False)  # a credential until it expires
    user_code: str
    verification_uri: str
    expires_in: int
    interval: int
    message: str = ""


@sensitive_variables("response", "data")
@sensitive_variables("client_secret")
def start(
    device_code_url: str, client_id: str, scope: str, timeout: float, client_secret: str = ""
) -> DeviceCode:
    """Ask the provider for a code for the person to enter (RFC 8628 section 3.1): as a
    public client (its client id only), or with ``client_secret`` in the form, as RFC
    8628 asks of a confidential client (for a provider other than Microsoft and Google,
    whose device flows take public clients)."""
    # Authlib has no client for this one request: it is the same POST as a token request.
    if client_secret:
        client = ClientAuth(client_id, client_secret, "client_secret_post")
    else:
        client = ClientAuth(client_id, None, "none")
    response = PolicySession(timeout).post(device_code_url, data={"scope": scope}, auth=client)
    data = response.json()
    if response.status_code != 200 or "device_code" not in data:
        raise refusal(data, response.status_code)
    return DeviceCode(
        device_code=str(data["device_code"]),
        user_code=str(data.get("user_code", "")),
        verification_uri=str(data.get("verification_uri") or data.get("verification_url", "")),
        expires_in=int(data.get("expires_in") or 900),
        interval=int(data.get("interval") if data.get("interval") is not None else 5),
        message=str(data.get("message") or ""),
    )


def start_for(profile, device_code_url: str, scope: str) -> DeviceCode:
    """:func:`start` for ``profile``: its client id, its timeout, and its client secret
    for a custom provider (reading the secret may raise ``SecretUnreadable``)."""
    secret = profile.oauth_client_secret if profile.oauth_provider == OAuthProvider.CUSTOM else ""
    return start(device_code_url, profile.oauth_client_id, scope, float(profile.timeout), secret)


class Pending(Exception):
    """The person has not finished signing in yet; ask again in ``interval`` seconds."""

    def __init__(self, interval: int):
        super().__init__(interval)
        self.interval = interval


@sensitive_variables("code", "client_secret", "data")
def poll(
    code: DeviceCode,
    *,
    token_url: str,
    client_id: str,
    client_secret: str = "",
    timeout: float,
    interval: int | None = None,
) -> Token:
    """Ask the token endpoint once whether the sign-in is done: the token (with its
    refresh token), or :class:`Pending` with the interval to wait before asking again
    (longer after ``slow_down``). :class:`TokenRefused` says why not (``expired_token``,
    ``access_denied``...)."""
    interval = code.interval if interval is None else interval
    try:
        data = request_token(
            token_url,
            grant_type=DEVICE_CODE_GRANT,
            client_id=client_id,
            client_secret=client_secret,
            timeout=timeout,
            device_code=code.device_code,
        )
    except TokenRefused as refused:
        if refused.error == "slow_down":
            raise Pending(interval + 5) from None  # RFC 8628 section 3.5
        if refused.error == "authorization_pending":
            raise Pending(interval) from None
        raise
    return Token.from_response(data)


@sensitive_variables("code", "client_secret")
def wait_for_token(
    code: DeviceCode,
    *,
    token_url: str,
    client_id: str,
    client_secret: str = "",
    timeout: float,
    sleep: Callable[[float], None] = time.sleep,
) -> Token:
    """Poll the token endpoint until the person has signed in (see :func:`poll`);
    :class:`TokenRefused` with ``expired_token`` once the code has expired."""
    interval = max(0, code.interval)
    deadline = time.monotonic() + code.expires_in
    while True:
        try:
            return poll(
                code,
                token_url=token_url,
                client_id=client_id,
                client_secret=client_secret,
                timeout=timeout,
                interval=interval,
            )
        except Pending as pending:
            interval = pending.interval
        if time.monotonic() + interval > deadline:
            raise TokenRefused("expired_token", _("the code expired before the sign-in was done"))
        sleep(interval)
