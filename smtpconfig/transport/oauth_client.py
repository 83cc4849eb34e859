"""The OAuth2 client protocol, on Authlib: token requests for every grant the app uses,
the authorization URL with PKCE, and the account an ID token names.

Authlib's ``OAuth2Client`` builds the requests and reads the answers; it sends
them through :class:`.oauth_http.PolicySession`, so the network policy, TLS
rules, timeout and answer cap stay the app's. An error the server states
becomes :class:`TokenRefused` (``error``, ``description``).

Client authentication: the secret goes in the form (``client_secret_post``,
what Microsoft and Google document). When a token endpoint answers
``invalid_client`` to that, the request is made once more with HTTP Basic
(``client_secret_basic``, the method RFC 6749 section 2.3.1 requires servers to
support), and whichever the endpoint accepted is remembered for its URL for
the life of the process. A public client (no secret) sends its client id only.
"""

from __future__ import annotations

import base64
import json
import threading
import urllib.parse

from authlib.common.encoding import urlsafe_b64decode
from authlib.common.security import generate_token
from authlib.oauth2.client import OAuth2Client
from django.views.decorators.debug import sensitive_variables

from ..exceptions import TokenRefused
from .deadline import Budget, conversation_budget, current_budget, within
from .oauth_http import PolicySession, refusal

DEVICE_CODE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"

IN_FORM = "client_secret_post"
HTTP_BASIC = "client_secret_basic"


def _refused(error=None, description=None, **_ignored) -> TokenRefused:
    # Authlib's own OAuth2Error refuses descriptions with characters outside RFC 6749's
    # set, and Microsoft's have line breaks: the endpoint's words go into ours instead.
    return refusal({"error": error, "error_description": description}, 0)


@sensitive_variables("client", "pair")
def _secret_basic(client, method, uri, headers, body):
    # RFC 6749 section 2.3.1: the id and the secret are each form-urlencoded, then joined
    # for Basic. Authlib joins them raw as Latin-1, so a secret with ":" would be cut and
    # one with a character outside Latin-1 could not be sent at all.
    pair = f"{urllib.parse.quote_plus(client.client_id)}:"
    pair += urllib.parse.quote_plus(client.client_secret or "")
    headers["Authorization"] = "Basic " + base64.b64encode(pair.encode("ascii")).decode("ascii")
    return uri, headers, body


class TokenClient(OAuth2Client):
    """Authlib's OAuth2 client with the app's errors, RFC 6749's encoding for HTTP Basic
    client authentication and a stricter reading of answers."""

    oauth_error_class = staticmethod(_refused)

    def __init__(self, session, **kwargs):
        super().__init__(session, **kwargs)
        self.register_client_auth_method((HTTP_BASIC, _secret_basic))

    @sensitive_variables("data", "token")
    def parse_response_token(self, resp):
        """The token answer, or :class:`TokenRefused`: the error stated, else ``http_<status>``
        for an answer that is not a 200 with an access token."""
        data = resp.json()  # within the cap; TokenRefused when it is not JSON
        if "expires_in" in data:
            try:
                data["expires_in"] = int(data["expires_in"])
            except (TypeError, ValueError):
                del data["expires_in"]  # taken as absent rather than failing the sign-in
        token = super().parse_response_token(resp)
        if resp.status_code != 200 or not token.get("access_token"):
            raise refusal(data, resp.status_code)
        return token


class _AuthMethods:
    """Per token endpoint URL, the client authentication it accepted (process memory)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.by_url: dict[str, str] = {}

    def to_try(self, url: str, has_secret: bool) -> list[str]:
        if not has_secret:
            return ["none"]
        with self.lock:
            first = self.by_url.get(url, IN_FORM)
        return [first, HTTP_BASIC if first == IN_FORM else IN_FORM]

    def worked(self, url: str, method: str) -> None:
        if method != "none":
            with self.lock:
                self.by_url[url] = method


auth_methods = _AuthMethods()


@sensitive_variables("client_secret", "params", "client", "first_refusal")
def request_token(
    token_url: str,
    *,
    grant_type: str,
    client_id: str,
    client_secret: str = "",
    scope: str = "",
    timeout: float,
    **params: str,
) -> dict:
    """Ask ``token_url`` for a token with ``grant_type`` and its ``params`` (``refresh_token``,
    ``code``, ``redirect_uri``, ``code_verifier``, ``device_code``); Authlib's token (a
    dict with ``access_token``, maybe ``refresh_token``, ``id_token``...).

    :class:`TokenRefused` for an error the endpoint states (``invalid_grant``,
    ``authorization_pending``...), ``OSError`` when it cannot be reached.
    """
    # Both client authentication methods, if it comes to that, within one deadline: the
    # caller's (a test's) or this request's own.
    budget = current_budget() or Budget.start(conversation_budget(timeout), "http")
    with within(budget):
        first_refusal: TokenRefused | None = None
        for method in auth_methods.to_try(token_url, bool(client_secret)):
            client = TokenClient(
                PolicySession(timeout),
                client_id=client_id,
                client_secret=client_secret or None,
                token_endpoint_auth_method=method,
                scope=scope or None,
                token={},  # none yet; Authlib looks in it for a refresh token not given
            )
            try:
                if grant_type == "refresh_token":
                    token = client.refresh_token(token_url, refresh_token=params["refresh_token"])
                else:
                    token = client.fetch_token(token_url, grant_type=grant_type, **params)
            except TokenRefused as refused:
                if refused.error != "invalid_client":
                    auth_methods.worked(token_url, method)  # the client was authenticated
                    raise
                if first_refusal is not None:
                    raise first_refusal from None  # the answer to the documented method
                first_refusal = refused
                continue
            auth_methods.worked(token_url, method)
            return dict(token)
        raise first_refusal  # every method was refused as a client


def new_state() -> str:
    """A single-use ``state`` for an authorization request."""
    return generate_token(48)


def new_code_verifier() -> str:
    """A PKCE code verifier (RFC 7636 section 4.1: 43 to 128 unreserved characters)."""
    return generate_token(64)


@sensitive_variables("code_verifier")
def authorization_url(
    authorize_url: str,
    *,
    client_id: str,
    redirect_uri: str,
    scope: str,
    state: str,
    code_verifier: str,
    **extra: str,
) -> str:
    """The provider's consent page for an authorization code with PKCE (S256); ``extra``
    parameters (``prompt``, ``login_hint``, ``access_type``) are added as given."""
    client = OAuth2Client(
        None, client_id=client_id, redirect_uri=redirect_uri, code_challenge_method="S256"
    )
    url, _state = client.create_authorization_url(
        authorize_url, state=state, code_verifier=code_verifier, scope=scope, **extra
    )
    return url


@sensitive_variables("id_token", "payload")
def id_token_account(id_token: str) -> str:
    """The account an OpenID Connect ID token names (``email``, ``preferred_username`` or
    ``upn``), '' when it names none or cannot be read.

    The signature is not checked: the token came straight from the token endpoint over
    TLS (OpenID Connect Core 3.1.3.7), and the account is only shown, never trusted.
    """
    try:
        payload = id_token.split(".")[1]
        claims = json.loads(urlsafe_b64decode(payload.encode("ascii")))
    except (IndexError, ValueError, UnicodeError):
        return ""
    if not isinstance(claims, dict):
        return ""
    for name in ("email", "preferred_username", "upn"):
        value = claims.get(name)
        if isinstance(value, str) and value.strip().isprintable() and value.strip():
            return value.strip()[:254]
    return ""


def another_account(account: str, username: str) -> bool:
    """Whether the provider signed in an ``account`` other than the profile's ``username``
    (compared without case); the mail server may then refuse to send as the user name
    (Microsoft: SendAsDenied). False when the account is not known."""
    return bool(account) and account.casefold() != username.casefold()
