"""OAuth2 access tokens for SMTP: asked of the provider's token endpoint, kept until they
are about to expire.

The protocol is Authlib's (:mod:`.oauth_client`), carried through the app's network
policy and resolver with certificate verification and within the profile's timeout
(:mod:`.oauth_http`). Two grants here: ``refresh_token`` (an account connected in
the admin) and ``client_credentials`` (Microsoft 365 app-only).

Tokens are cached per process, keyed by everything that decides whose token it is,
until a minute before they expire. With ``SMTPCONFIG["CACHE"]`` (a Django cache
every process shares) they are also kept there, encrypted with the app's keys like
every stored secret, so that the workers of a site share one token instead of each
asking for its own; a cache that fails is passed by, never failing a send. Nothing
here logs, stores in clear or puts a token or a secret into an exception.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from django.core.cache import caches
from django.views.decorators.debug import sensitive_variables

from .. import crypto
from ..conf import get_setting
from ..exceptions import TokenRefused
from .oauth_client import id_token_account, request_token
from .oauth_http import endpoint_scheme_allowed, post_form, read_json

__all__ = [
    "Token",
    "TokenRequest",
    "cached_token",
    "endpoint_scheme_allowed",
    "fetch_token",
    "forget_token",
    "post_form",
    "read_json",
]

logger = logging.getLogger(__name__)

# A token is used until this many seconds before it expires.
_EXPIRY_MARGIN = 60
# Where a token is kept in the shared cache (followed by TokenRequest.cache_key()).
_SHARED_PREFIX = "smtpconfig:oauth-token:"


@dataclass(frozen=True)
class TokenRequest:
    """What a token endpoint needs for one grant; secrets are not shown in a repr."""

    token_url: str
    client_id: str
    grant_type: str = "refresh_token"
    scope: str = ""
    client_secret: str = field(default="", repr=False)
    refresh_token: str = field(default="", repr=False)
    #: Called with (old, new) when the provider rotates the refresh token (to store it).
    on_rotated: Callable[[str, str], None] | None = field(default=None, repr=False, compare=False)
    #: Returns the refresh token stored now ('' when unknown): after ``invalid_grant``, a
    #: newer one another worker stored (it rotated the same token first) is tried once.
    stored_refresh_token: Callable[[], str] | None = field(default=None, repr=False, compare=False)

    def form(self) -> dict[str, str]:
        """The request as one form (RFC 6749 sections 4.4 and 6), the client secret in it as
        ``client_secret_post`` sends it; what is sent is Authlib's (:func:`fetch_token`)."""
        values = {"grant_type": self.grant_type, "client_id": self.client_id}
        if self.client_secret:
            values["client_secret"] = self.client_secret
        if self.grant_type == "refresh_token":
            values["refresh_token"] = self.refresh_token
        if self.scope:
            values["scope"] = self.scope
        return values

    def cache_key(self) -> str:
        """Whose token it is, as a digest (the secrets never leave this object in clear)."""
        parts = (self.token_url, self.client_id, self.grant_type, self.scope, self.refresh_token)
        return hashlib.sha256("\x00".join(parts).encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Token:
    """An access token and what came with it."""

    access_token: str = field(repr=False)
    expires_at: float  # time.time()
    #: A new refresh token the provider rotated in ('' when it did not).
    refresh_token: str = field(default="", repr=False)
    scope: str = ""
    #: The account the ID token names, when one came with it (for display only).
    account: str = ""

    @property
    def expires_in(self) -> int:
        return max(0, int(self.expires_at - time.time()))

    @classmethod
    @sensitive_variables("data")
    def from_response(cls, data: dict) -> Token:
        """The token from a token endpoint's answer (3600 s when it states no lifetime)."""
        try:
            expires_in = int(data.get("expires_in") or 3600)
        except (TypeError, ValueError):
            expires_in = 3600
        return cls(
            access_token=str(data["access_token"]),
            expires_at=time.time() + expires_in,
            refresh_token=str(data.get("refresh_token") or ""),
            scope=str(data.get("scope") or ""),
            account=id_token_account(str(data.get("id_token") or "")),
        )


class _Cache:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.tokens: dict[str, Token] = {}


_cache = _Cache()


def cached_token(request: TokenRequest) -> Token | None:
    """A cached token for ``request`` that is not about to expire, or None: this process's,
    else the shared cache's (``SMTPCONFIG["CACHE"]``)."""
    key = request.cache_key()
    with _cache.lock:
        token = _cache.tokens.get(key)
    if token is None or not _fresh(token):
        token = _shared_get(key)
        if token is None or not _fresh(token):
            return None
        with _cache.lock:
            _cache.tokens[key] = token
    return token


def forget_token(request: TokenRequest) -> None:
    """Drop the cached token (the server refused it although it looked valid)."""
    key = request.cache_key()
    with _cache.lock:
        _cache.tokens.pop(key, None)
    cache = _shared_cache()
    if cache is not None:
        try:
            cache.delete(_SHARED_PREFIX + key)
        except Exception as exc:  # (any backend's failure: see _shared_get)
            _cache_failed("delete", exc)


@sensitive_variables("request", "newer")
def fetch_token(request: TokenRequest, timeout: float) -> Token:
    """A fresh access token for ``request``, also cached; raises :class:`TokenRefused`
    for an error the endpoint states, and ``OSError`` when it cannot be reached.

    With rotating refresh tokens (Microsoft), two workers refreshing with the same
    token at once race: the provider answers the second ``invalid_grant``, as the
    first already spent it. The first stores the new token; the second then finds it
    stored, and takes the token the first cached or refreshes with the new one,
    instead of failing a message.
    """
    try:
        return _fetch(request, timeout)
    except TokenRefused as refused:
        if refused.error != "invalid_grant" or request.grant_type != "refresh_token":
            raise
        newer = _newer_refresh_token(request)
        if not newer:
            raise
    retry = dataclasses.replace(request, refresh_token=newer, stored_refresh_token=None)
    return cached_token(retry) or _fetch(retry, timeout)


# After invalid_grant, when to look again for a newer refresh token another worker is
# storing (its answer and our refusal may cross by milliseconds); a revoked consent, which
# no newer token cures, costs a send no more than the last wait.
_NEWER_TOKEN_WAITS = (0.0, 0.25)


@sensitive_variables("request", "stored")
def _newer_refresh_token(request: TokenRequest) -> str:
    """The refresh token stored now when it is not the one just refused ('' otherwise)."""
    if request.stored_refresh_token is None:
        return ""
    for wait in _NEWER_TOKEN_WAITS:
        time.sleep(wait)
        stored = request.stored_refresh_token()
        if stored and stored != request.refresh_token:
            return stored
    return ""


@sensitive_variables("request", "params", "data", "token")
def _fetch(request: TokenRequest, timeout: float) -> Token:
    refresh = request.grant_type == "refresh_token"
    params = {"refresh_token": request.refresh_token} if refresh else {}
    data = request_token(
        request.token_url,
        grant_type=request.grant_type,
        client_id=request.client_id,
        client_secret=request.client_secret,
        scope=request.scope,
        timeout=timeout,
        **params,
    )
    token = Token.from_response(data)
    keys = [request.cache_key()]
    rotated = token.refresh_token and token.refresh_token != request.refresh_token
    if rotated:
        # Also under the rotated refresh token: the next request is made with it, and
        # must find this access token rather than refresh (and rotate) again.
        keys.append(dataclasses.replace(request, refresh_token=token.refresh_token).cache_key())
    for key in keys:
        with _cache.lock:
            _cache.tokens[key] = token
        _shared_set(key, token)
    if rotated and request.on_rotated is not None:
        request.on_rotated(request.refresh_token, token.refresh_token)
    return token


def _fresh(token: Token) -> bool:
    return token.expires_at - _EXPIRY_MARGIN > time.time()


def usable_until(token: Token) -> float:
    """When (``time.time()``) ``token`` stops being used: a minute before it expires."""
    return token.expires_at - _EXPIRY_MARGIN


def _shared_cache():
    alias = get_setting("CACHE")
    if not alias:
        return None
    try:
        return caches[alias]
    except Exception as exc:  # (InvalidCacheBackendError, a backend's import)
        _cache_failed("open", exc)
        return None


@sensitive_variables("token", "sealed")
def _shared_set(key: str, token: Token) -> None:
    """Keep the access token (only: the refresh token lives sealed in the database) in
    the shared cache, encrypted, until the margin before it expires."""
    cache = _shared_cache()
    seconds = int(token.expires_at - _EXPIRY_MARGIN - time.time())
    if cache is None or seconds <= 0:
        return
    try:
        sealed = crypto.encrypt(
            json.dumps(
                {
                    "access_token": token.access_token,
                    "expires_at": token.expires_at,
                    "scope": token.scope,
                }
            )
        )
        cache.set(_SHARED_PREFIX + key, sealed, seconds)
    except Exception as exc:  # (see _shared_get)
        _cache_failed("set", exc)


@sensitive_variables("sealed", "values")
def _shared_get(key: str) -> Token | None:
    """The token another process kept in the shared cache, or None. Any failure (the
    cache is down, the value cannot be decrypted) means None: a token is then fetched,
    and a cache must never be the reason mail is not sent."""
    cache = _shared_cache()
    if cache is None:
        return None
    try:
        sealed = cache.get(_SHARED_PREFIX + key)
        if sealed is None:
            return None
        values = json.loads(crypto.decrypt(sealed))
        return Token(
            access_token=str(values["access_token"]),
            expires_at=float(values["expires_at"]),
            scope=str(values.get("scope") or ""),
        )
    except Exception as exc:  # (any backend's error, a key that changed)
        _cache_failed("get", exc)
        return None


def _cache_failed(action: str, exc: Exception) -> None:
    # The kind of failure only: an exception's text might quote what was stored.
    logger.warning(
        "The OAuth2 token cache %r failed (%s: %s); tokens are fetched instead.",
        get_setting("CACHE"),
        action,
        type(exc).__name__,
    )
