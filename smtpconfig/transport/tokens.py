"""OAuth2 access tokens for SMTP: asked of the provider's token endpoint, kept until they
are about to expire.

A token request is an HTTPS POST, and like every outgoing connection of the
app it goes through the one network policy and resolver
(:mod:`.network`), with certificate verification and within the profile's
timeout. It is written on ``http.client`` over that socket rather than with
an HTTP library's own connection pool, which would open connections the
policy never sees. Two grants: ``refresh_token`` (an account connected in
the admin) and ``client_credentials`` (Microsoft 365 app-only).

Tokens are cached per process, keyed by everything that decides whose token
it is, until a minute before they expire. Nothing here logs, stores or puts
a token or a secret into an exception.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import ssl
import threading
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field

from django.utils.translation import gettext as _
from django.views.decorators.debug import sensitive_variables

from ..conf import get_setting
from ..exceptions import TokenRefused
from .network import connect, resolve
from .tls import client_context

# A token is used until this many seconds before it expires.
_EXPIRY_MARGIN = 60
# The most of a token endpoint's answer that is read.
_MAX_RESPONSE_BYTES = 64 * 1024


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

    def form(self) -> dict[str, str]:
        """The form the endpoint is sent (RFC 6749 sections 4.4 and 6)."""
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

    @property
    def expires_in(self) -> int:
        return max(0, int(self.expires_at - time.time()))


class _Cache:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.tokens: dict[str, Token] = {}


_cache = _Cache()


def cached_token(request: TokenRequest) -> Token | None:
    """A cached token for ``request`` that is not about to expire, or None."""
    with _cache.lock:
        token = _cache.tokens.get(request.cache_key())
    if token is not None and token.expires_at - _EXPIRY_MARGIN > time.time():
        return token
    return None


def forget_token(request: TokenRequest) -> None:
    """Drop the cached token (the server refused it although it looked valid)."""
    with _cache.lock:
        _cache.tokens.pop(request.cache_key(), None)


@sensitive_variables("request")
def fetch_token(request: TokenRequest, timeout: float) -> Token:
    """A fresh access token for ``request``, also cached; raises :class:`TokenRefused`
    for an error the endpoint states, and ``OSError`` when it cannot be reached."""
    status, payload = post_form(request.token_url, request.form(), timeout)
    token = _parse(status, payload)
    with _cache.lock:
        _cache.tokens[request.cache_key()] = token
    rotated = token.refresh_token and token.refresh_token != request.refresh_token
    if rotated and request.on_rotated is not None:
        request.on_rotated(request.refresh_token, token.refresh_token)
    return token


@sensitive_variables("form", "body", "payload")
def post_form(url: str, form: dict[str, str], timeout: float) -> tuple[int, bytes]:
    """POST ``form`` to an https:// ``url`` through the network policy; (status, body).

    ``http://`` is refused unless ``SMTPCONFIG["OAUTH_ALLOW_HTTP"]`` is on (a test
    authorization server): the form carries client secrets and refresh tokens.
    """
    parts = urllib.parse.urlsplit(url)
    if not endpoint_scheme_allowed(url) or not parts.hostname:
        raise TokenRefused("invalid_request", _("the token endpoint must be an https:// URL"))
    secure = parts.scheme == "https"
    port = parts.port or (443 if secure else 80)
    body = urllib.parse.urlencode(form)
    sock, _address, _failures = connect(
        parts.hostname, resolve(parts.hostname, port, timeout), timeout
    )
    if secure:
        context: ssl.SSLContext = client_context(verify=True, ca_pem=_extra_ca())
        sock = context.wrap_socket(sock, server_hostname=parts.hostname)
    with sock:
        connection = http.client.HTTPConnection(parts.hostname, port, timeout=timeout)
        connection.sock = sock  # already connected through the network policy
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        connection.request(
            "POST",
            path or "/",
            body=body,
            headers={
                "Content-Type": "application/x-www-form-urlencoded",
                "Accept": "application/json",
            },
        )
        response = connection.getresponse()
        return response.status, response.read(_MAX_RESPONSE_BYTES + 1)


def endpoint_scheme_allowed(url: str) -> bool:
    """Whether an OAuth2 endpoint's scheme may be used: https://, or http:// when
    ``SMTPCONFIG["OAUTH_ALLOW_HTTP"]`` is on."""
    scheme = urllib.parse.urlsplit(url).scheme
    return scheme == "https" or (scheme == "http" and bool(get_setting("OAUTH_ALLOW_HTTP")))


def read_json(status: int, payload: bytes) -> dict:
    """The endpoint's JSON answer; :class:`TokenRefused` when there is none or it is too long."""
    if len(payload) > _MAX_RESPONSE_BYTES:
        raise TokenRefused("invalid_response", _("the token endpoint's answer is too long"))
    try:
        data = json.loads(payload.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        data = None
    if not isinstance(data, dict):
        raise TokenRefused(
            "invalid_response",
            _("the token endpoint answered HTTP %(status)s without JSON") % {"status": status},
        )
    return data


def _parse(status: int, payload: bytes) -> Token:
    data = read_json(status, payload)
    if status != 200 or "access_token" not in data:
        error = str(data.get("error") or f"http_{status}")[:100]
        description = str(data.get("error_description") or "")[:500]
        raise TokenRefused(error, description)
    try:
        expires_in = int(data.get("expires_in") or 3600)
    except (TypeError, ValueError):
        expires_in = 3600
    return Token(
        access_token=str(data["access_token"]),
        expires_at=time.time() + expires_in,
        refresh_token=str(data.get("refresh_token") or ""),
        scope=str(data.get("scope") or ""),
    )


def _extra_ca() -> str:
    # A private CA for token endpoints (tests, an in-house identity provider).
    return str(get_setting("OAUTH_CA_CERTIFICATE") or "")
