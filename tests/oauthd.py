"""A real OAuth2 authorization server for the tests, on 127.0.0.1 over plain HTTP.

It speaks the parts of OAuth2 that SMTP sign-in uses, the way Microsoft's and
Google's servers do, and keeps its own books so that a test can check them:

- ``GET /authorize`` answers with its own consent page (Approve and Deny
  buttons, whose form posts back to ``/authorize``); approving redirects to the
  client's registered ``redirect_uri`` with ``code`` and ``state``, denying
  with ``error=access_denied``. PKCE (S256) is required.
- ``POST /token`` takes the grants ``authorization_code`` (with the PKCE
  verifier checked), ``refresh_token`` (rotated: every refresh gives a new
  refresh token and the old one is spent), ``client_credentials`` and the
  device code grant (``authorization_pending``, ``slow_down``,
  ``expired_token``, ``access_denied``). A client authenticates with its
  secret in the form (``client_secret_post``) or with HTTP Basic
  (``client_secret_basic``); a public client has no secret.
- ``POST /devicecode`` starts a device code flow; ``GET /device`` is the
  page where a person types the user code and approves (or denies).
- ``POST /revoke`` revokes a token (RFC 7009), and
  :meth:`OAuthServer.revoke_consent` is a person withdrawing their consent in
  their account settings: the next refresh answers ``invalid_grant``.
- Every expiry is measured on :attr:`OAuthServer.clock`, which a test moves
  with ``server.clock.advance(seconds)``; :func:`process_time_follows` moves
  the test process's ``time.time()`` along with it, so that the app sees the
  same time as the server.

:class:`XOAuth2Handler` is the mail server's side: an aiosmtpd handler (for
:func:`tests.smtpd.running_smtp_server`) that lets a user in with AUTH XOAUTH2
only with a live access token this server issued for them, and otherwise
answers as Microsoft 365 or Gmail do.

The functions :func:`consent`, :func:`enter_user_code` play the person's
browser: they read the server's own pages and submit their forms.

Use::

    with running_oauth_server(users=["mailer@example.com"]) as oauthd:
        app = oauthd.add_client("smtp-app", secret="s3cret", redirect_uris=[callback])
        ...
        oauthd.clock.advance(3600)
        assert oauthd.hits["/token"] == 2
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import secrets
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass, field
from html.parser import HTMLParser
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from aiosmtpd.smtp import MISSING, AuthResult, LoginPassword

from .smtpd import RecordingHandler

# The real wall clock, kept before any test makes time.time() follow a moved clock.
_wall_time = time.time

DEVICE_CODE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"


class Clock:
    """The server's time: the wall clock plus what the test moved it by."""

    def __init__(self) -> None:
        self.offset = 0.0

    def now(self) -> float:
        return _wall_time() + self.offset

    def advance(self, seconds: float) -> None:
        """Move the server's time forward (tokens and codes expire by it)."""
        self.offset += seconds


@contextmanager
def process_time_follows(clock: Clock):
    """Make ``time.time()`` in this process read ``clock`` while the block runs.

    The app keeps access tokens until they are about to expire by its own
    ``time.time()``; moving both clocks together is what "an hour later" means
    for both sides. Monotonic time (timeouts, the SMTP servers' event loops)
    is left alone.
    """
    real = time.time
    time.time = clock.now
    try:
        yield
    finally:
        time.time = real


@dataclass
class Client:
    """A registered application: confidential when it has a secret, public otherwise."""

    client_id: str
    secret: str = ""
    redirect_uris: list[str] = field(default_factory=list)
    name: str = "SMTP settings"

    @property
    def public(self) -> bool:
        return not self.secret


@dataclass
class Grant:
    """A user's consent to a client (what "revoke access" in account settings withdraws)."""

    user: str
    client_id: str
    scope: str
    revoked: bool = False


@dataclass
class AccessToken:
    value: str
    client_id: str
    user: str | None  # None: an application's own token (client credentials)
    expires_at: float
    grant: Grant | None = None
    revoked: bool = False


@dataclass
class RefreshToken:
    value: str
    grant: Grant
    #: Spent by a refresh (rotation) or revoked: it answers invalid_grant from then on.
    spent: bool = False
    revoked: bool = False


@dataclass
class AuthorizationCode:
    value: str
    client_id: str
    redirect_uri: str
    user: str
    scope: str
    challenge: str
    expires_at: float
    used: bool = False


@dataclass
class DeviceAuthorization:
    """One device code flow: pending until the person approves or denies it."""

    device_code: str
    user_code: str
    client_id: str
    scope: str
    expires_at: float
    interval: float
    status: str = "pending"  # "approved", "denied", "done"
    user: str | None = None
    last_poll: float | None = None


class OAuthError(Exception):
    """An error answer of the token endpoint (RFC 6749 section 5.2)."""

    def __init__(self, error: str, description: str = "", status: int = 400, basic=False):
        super().__init__(error, description)
        self.error, self.description, self.status, self.basic = error, description, status, basic


@dataclass(repr=False)
class OAuthServer:
    """The running server: its URLs, its settings (change them at any time), its records."""

    root: str = ""
    clock: Clock = field(default_factory=Clock)
    clients: dict[str, Client] = field(default_factory=dict)
    #: The accounts a person can be signed in as; the consent page offers them.
    users: list[str] = field(default_factory=list)

    #: Lifetimes in seconds (measured on the clock) and the device flow's polling interval.
    access_token_lifetime: int = 3600
    code_lifetime: int = 600
    device_code_lifetime: int = 900
    device_interval: int = 1
    #: False: no refresh token with the access token (a scope without offline access).
    issue_refresh_tokens: bool = True
    #: True: every refresh gives a new refresh token and spends the old one (Microsoft);
    #: False: the refresh token stays the same and keeps working (Google).
    rotate_refresh_tokens: bool = True
    #: Polls of a device code closer together than this get slow_down (None: the
    #: announced interval); after a slow_down the client must wait 5 s more (RFC 8628).
    min_poll_interval: float | None = None
    #: True: a confidential client must authenticate at the device authorization endpoint
    #: too (RFC 8628 section 3.1 applies RFC 6749's client authentication there).
    device_requires_client_auth: bool = False

    #: Requests per path (``hits["/token"]``), and each token request: the grant and how
    #: the client authenticated ("basic", "post" or "none").
    hits: Counter = field(default_factory=Counter)
    token_requests: list[dict] = field(default_factory=list)

    grants: list[Grant] = field(default_factory=list)
    codes: dict[str, AuthorizationCode] = field(default_factory=dict)
    access_tokens: dict[str, AccessToken] = field(default_factory=dict)
    refresh_tokens: dict[str, RefreshToken] = field(default_factory=dict)
    device_authorizations: list[DeviceAuthorization] = field(default_factory=list)

    lock: threading.RLock = field(default_factory=threading.RLock, repr=False)
    _refresh_gate: threading.Barrier | None = field(default=None, repr=False)

    def __repr__(self) -> str:  # short, and without the tokens it holds
        return f"<OAuthServer {self.root}>"

    # Where things are.

    @property
    def authorize_url(self) -> str:
        return self.root + "/authorize"

    @property
    def token_url(self) -> str:
        return self.root + "/token"

    @property
    def device_url(self) -> str:
        """The device authorization endpoint (RFC 8628 section 3.1)."""
        return self.root + "/devicecode"

    @property
    def verification_url(self) -> str:
        """The page where a person enters a user code."""
        return self.root + "/device"

    @property
    def revoke_url(self) -> str:
        return self.root + "/revoke"

    # Setting it up.

    def add_client(
        self, client_id: str, *, secret: str = "", redirect_uris=(), name: str = "SMTP settings"
    ) -> Client:
        """Register an application (with a secret: confidential; without: public)."""
        client = Client(client_id, secret, list(redirect_uris), name)
        self.clients[client_id] = client
        return client

    def hold_refreshes(self, count: int, timeout: float = 5.0) -> None:
        """Answer the next ``count`` refresh requests only once all of them have arrived,
        one after the other (two workers refreshing at the same moment)."""
        self._refresh_gate = threading.Barrier(count, timeout=timeout)

    # What a person or an administrator does at the provider.

    def revoke_consent(self, user: str, client_id: str | None = None) -> None:
        """The user withdraws the client's access (all clients' when None): its refresh
        tokens answer invalid_grant and its access tokens stop working."""
        with self.lock:
            for grant in self.grants:
                if grant.user == user and client_id in (None, grant.client_id):
                    grant.revoked = True

    # What the tests check.

    def live_refresh_tokens(self, user: str | None = None) -> list[str]:
        """The refresh tokens that would still work (for ``user``)."""
        with self.lock:
            return [
                token.value
                for token in self.refresh_tokens.values()
                if not (token.spent or token.revoked or token.grant.revoked)
                and user in (None, token.grant.user)
            ]

    def access_token_is_live(self, value: str, user: str) -> bool:
        """Whether ``value`` is an access token this server issued that is still valid
        and may be used for ``user`` (an application's own token: for any known user)."""
        with self.lock:
            token = self.access_tokens.get(value)
            if token is None or token.revoked or token.expires_at <= self.clock.now():
                return False
            if token.grant is not None and token.grant.revoked:
                return False
            return token.user == user if token.user is not None else user in self.users

    def secrets(self) -> set[str]:
        """Every secret this server issued or holds: client secrets, codes, device codes,
        access and refresh tokens (none of which the app may show, log or store in clear)."""
        with self.lock:
            values = {client.secret for client in self.clients.values() if client.secret}
            values |= set(self.codes) | set(self.access_tokens) | set(self.refresh_tokens)
            values |= {device.device_code for device in self.device_authorizations}
            return values

    # The endpoints' logic (called by the request handler, under the lock).

    def _new_secret(self, prefix: str) -> str:
        return f"{prefix}-{secrets.token_urlsafe(24)}"

    def _authenticate(self, form: dict, authorization: str | None) -> tuple[Client, str]:
        """The client of a request and how it authenticated ("basic", "post" or "none"):
        HTTP Basic or the form (RFC 6749 section 2.3.1)."""
        method = _client_auth_method(form, authorization)
        basic = method == "basic"
        if basic:
            try:
                decoded = base64.b64decode(authorization.split(" ", 1)[1]).decode("utf-8")
                client_id, secret = (urllib.parse.unquote_plus(p) for p in decoded.split(":", 1))
            except (ValueError, UnicodeDecodeError):
                raise OAuthError("invalid_client", "bad Basic credentials", 401, True) from None
        else:
            client_id, secret = form.get("client_id", ""), form.get("client_secret", "")
        client = self.clients.get(client_id)
        if client is None:
            raise OAuthError("invalid_client", "unknown client", 401, basic)
        if not client.public and not secrets.compare_digest(
            secret.encode(), client.secret.encode()
        ):
            raise OAuthError("invalid_client", "client authentication failed", 401, basic)
        return client, method

    def _issue(
        self, client: Client, user: str | None, scope: str, grant: Grant | None, refresh=True
    ) -> dict:
        """An access token (and, for a person's grant, a refresh token unless ``refresh``
        is False) as the token endpoint answers it."""
        access = AccessToken(
            self._new_secret("at"),
            client.client_id,
            user,
            self.clock.now() + self.access_token_lifetime,
            grant,
        )
        self.access_tokens[access.value] = access
        answer = {
            "access_token": access.value,
            "token_type": "Bearer",
            "expires_in": self.access_token_lifetime,
            "scope": scope,
        }
        if grant is not None and refresh and self.issue_refresh_tokens:
            new_refresh = RefreshToken(self._new_secret("rt"), grant)
            self.refresh_tokens[new_refresh.value] = new_refresh
            answer["refresh_token"] = new_refresh.value
        return answer

    def _grant_for(self, user: str, client: Client, scope: str) -> Grant:
        grant = Grant(user, client.client_id, scope)
        self.grants.append(grant)
        return grant

    def token(self, form: dict, authorization: str | None) -> dict:
        """Answer a token request, or raise :class:`OAuthError`."""
        grant_type = form.get("grant_type", "")
        if grant_type == "refresh_token" and self._refresh_gate is not None:
            self._refresh_gate.wait()  # outside the lock: the others must get here too
            self._refresh_gate = None  # once: later refreshes are answered at once
        with self.lock:
            method = _client_auth_method(form, authorization)
            self.token_requests.append({"grant_type": grant_type, "client_auth": method})
            client, _method = self._authenticate(form, authorization)
            if grant_type == "authorization_code":
                return self._authorization_code(client, form)
            if grant_type == "refresh_token":
                return self._refresh(client, form)
            if grant_type == "client_credentials":
                if client.public:
                    raise OAuthError("unauthorized_client", "a public client has no app access")
                return self._issue(client, None, form.get("scope", ""), None)
            if grant_type == DEVICE_CODE_GRANT:
                return self._device_token(client, form)
            raise OAuthError("unsupported_grant_type", grant_type[:50])

    def _authorization_code(self, client: Client, form: dict) -> dict:
        code = self.codes.get(form.get("code", ""))
        if code is None or code.client_id != client.client_id:
            raise OAuthError("invalid_grant", "unknown authorization code")
        if code.used:
            raise OAuthError("invalid_grant", "the authorization code was already redeemed")
        if code.expires_at <= self.clock.now():
            raise OAuthError("invalid_grant", "the authorization code has expired")
        if form.get("redirect_uri", "") != code.redirect_uri:
            raise OAuthError("invalid_grant", "redirect_uri does not match the authorization")
        verifier = form.get("code_verifier", "")
        digest = hashlib.sha256(verifier.encode("ascii", "replace")).digest()
        if base64.urlsafe_b64encode(digest).rstrip(b"=").decode() != code.challenge:
            raise OAuthError("invalid_grant", "PKCE verification failed")
        code.used = True
        return self._issue(
            client, code.user, code.scope, self._grant_for(code.user, client, code.scope)
        )

    def _refresh(self, client: Client, form: dict) -> dict:
        token = self.refresh_tokens.get(form.get("refresh_token", ""))
        if token is None or token.grant.client_id != client.client_id:
            raise OAuthError("invalid_grant", "unknown refresh token")
        if token.grant.revoked:
            raise OAuthError("invalid_grant", "consent revoked")
        if token.revoked:
            raise OAuthError("invalid_grant", "the refresh token was revoked")
        if token.spent:
            raise OAuthError("invalid_grant", "the refresh token was already used (rotated)")
        if not self.rotate_refresh_tokens:
            return self._issue(client, token.grant.user, token.grant.scope, token.grant, False)
        token.spent = True
        return self._issue(client, token.grant.user, token.grant.scope, token.grant)

    def _device_token(self, client: Client, form: dict) -> dict:
        device = next(
            (d for d in self.device_authorizations if d.device_code == form.get("device_code")),
            None,
        )
        if device is None or device.client_id != client.client_id or device.status == "done":
            raise OAuthError("invalid_grant", "unknown device code")
        now = self.clock.now()
        if device.expires_at <= now:
            raise OAuthError("expired_token", "the device code has expired")
        too_soon = device.interval if self.min_poll_interval is None else self.min_poll_interval
        last, device.last_poll = device.last_poll, now
        if last is not None and now - last < too_soon:
            device.interval += 5
            raise OAuthError("slow_down", "polled faster than the interval")
        if device.status == "denied":
            raise OAuthError("access_denied", "the user declined")
        if device.status == "pending":
            raise OAuthError("authorization_pending", "the user has not finished signing in")
        device.status = "done"
        grant = self._grant_for(device.user, client, device.scope)
        return self._issue(client, device.user, device.scope, grant)

    def start_device_flow(self, form: dict, authorization: str | None) -> dict:
        with self.lock:
            # As at Microsoft and Google, the device authorization endpoint needs only the
            # client id; a confidential client proves itself when it polls for the token.
            if authorization or form.get("client_secret"):
                client, _method = self._authenticate(form, authorization)
            elif (client := self.clients.get(form.get("client_id", ""))) is None:
                raise OAuthError("invalid_client", "unknown client", 401)
            elif self.device_requires_client_auth and client.secret:
                raise OAuthError("invalid_client", "client authentication required", 401)
            letters = "BCDFGHJKLMNPQRSTVWXZ"
            user_code = "".join(secrets.choice(letters) for _ in range(8))
            user_code = f"{user_code[:4]}-{user_code[4:]}"
            device = DeviceAuthorization(
                self._new_secret("dc"),
                user_code,
                client.client_id,
                form.get("scope", ""),
                self.clock.now() + self.device_code_lifetime,
                self.device_interval,
            )
            self.device_authorizations.append(device)
            return {
                "device_code": device.device_code,
                "user_code": user_code,
                "verification_uri": self.verification_url,
                "expires_in": self.device_code_lifetime,
                "interval": self.device_interval,
                "message": f"To sign in, open {self.verification_url} and enter {user_code}.",
            }

    def revoke(self, form: dict, authorization: str | None) -> None:
        """RFC 7009: revoke a token of the client; a refresh token takes its grant along."""
        with self.lock:
            client, _method = self._authenticate(form, authorization)
            value = form.get("token", "")
            token = self.refresh_tokens.get(value) or self.access_tokens.get(value)
            if isinstance(token, RefreshToken) and token.grant.client_id == client.client_id:
                token.grant.revoked = True
            elif isinstance(token, AccessToken) and token.client_id == client.client_id:
                token.revoked = True

    def new_code(self, query: dict, user: str) -> str:
        with self.lock:
            code = AuthorizationCode(
                self._new_secret("code"),
                query["client_id"],
                query["redirect_uri"],
                user,
                query.get("scope", ""),
                query.get("code_challenge", ""),
                self.clock.now() + self.code_lifetime,
            )
            self.codes[code.value] = code
            return code.value

    def decide_device(self, user_code: str, user: str, approve: bool) -> DeviceAuthorization | None:
        wanted = user_code.strip().upper().replace(" ", "")
        with self.lock:
            for device in self.device_authorizations:
                if device.user_code.replace("-", "") == wanted.replace("-", ""):
                    if device.status != "pending" or device.expires_at <= self.clock.now():
                        return None
                    device.status, device.user = ("approved" if approve else "denied"), user
                    return device
        return None


def _client_auth_method(form: dict, authorization: str | None) -> str:
    """How a request authenticates its client: "basic", "post" (the secret in the form)
    or "none" (a public client)."""
    if authorization and authorization.lower().startswith("basic "):
        return "basic"
    return "post" if form.get("client_secret") else "none"


# The pages a person sees (plain HTML; every value escaped).

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title></head>
<body><main><h1>{title}</h1>{body}</main></body></html>"""


def _page(title: str, body: str) -> bytes:
    return _PAGE.format(title=html.escape(title), body=body).encode("utf-8")


def _hidden(values: dict) -> str:
    return "".join(
        f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">'
        for k, v in values.items()
    )


def _accounts(users: list[str], chosen: str) -> str:
    options = "".join(
        f'<option value="{html.escape(u)}"{" selected" if u == chosen else ""}>'
        f"{html.escape(u)}</option>"
        for u in users
    )
    return f'<label>Account <select name="user" id="user">{options}</select></label>'


_BUTTONS = (
    '<button type="submit" name="decision" value="approve" id="approve">Approve</button> '
    '<button type="submit" name="decision" value="deny" id="deny">Deny</button>'
)


def _consent_page(server: OAuthServer, query: dict) -> bytes:
    client = server.clients[query["client_id"]]
    chosen = query.get("login_hint") if query.get("login_hint") in server.users else ""
    fields = {k: v for k, v in query.items() if k != "decision"}
    body = (
        f"<p>{html.escape(client.name)} asks to send mail as you "
        f"(scope: <code>{html.escape(query.get('scope', ''))}</code>).</p>"
        f'<form method="post" action="/authorize">{_hidden(fields)}'
        f"{_accounts(server.users, chosen or (server.users or [''])[0])}<p>{_BUTTONS}</p></form>"
    )
    return _page("Let this app send mail as you?", body)


def _device_page(server: OAuthServer, message: str = "") -> bytes:
    note = f'<p class="message">{html.escape(message)}</p>' if message else ""
    body = (
        f'{note}<form method="post" action="/device">'
        '<label>Code <input name="user_code" id="user_code" autocomplete="off"></label>'
        f"{_accounts(server.users, (server.users or [''])[0])}<p>{_BUTTONS}</p></form>"
    )
    return _page("Enter the code shown on your device", body)


def _redirect_with(uri: str, params: dict) -> str:
    parts = urllib.parse.urlsplit(uri)
    query = urllib.parse.parse_qsl(parts.query) + [(k, v) for k, v in params.items() if v]
    return urllib.parse.urlunsplit(parts._replace(query=urllib.parse.urlencode(query)))


class _Handler(BaseHTTPRequestHandler):
    server_version = "oauthd/1"
    oauth: OAuthServer  # set on the subclass made per server

    # Plumbing.

    def _send(self, status: int, body: bytes, content_type: str, headers=()) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def _json(self, status: int, data: dict, headers=()) -> None:
        self._send(status, json.dumps(data).encode(), "application/json", headers)

    def _html(self, status: int, body: bytes) -> None:
        self._send(status, body, "text/html; charset=utf-8")

    def _redirect(self, location: str) -> None:
        self._send(302, b"", "text/plain", [("Location", location)])

    def _form(self) -> dict:
        length = int(self.headers.get("Content-Length") or 0)
        pairs = urllib.parse.parse_qsl(self.rfile.read(length).decode("utf-8"), True)
        return dict(pairs)

    def _path_and_query(self) -> tuple[str, dict]:
        parts = urllib.parse.urlsplit(self.path)
        with self.oauth.lock:
            self.oauth.hits[parts.path] += 1
        return parts.path, dict(urllib.parse.parse_qsl(parts.query, True))

    def log_message(self, *args):  # quiet: the tests read hits and token_requests instead
        pass

    # The endpoints.

    def do_GET(self):  # noqa: N802 (http.server's name)
        path, query = self._path_and_query()
        if path == "/authorize":
            self._authorize(query, decision=None)
        elif path == "/device":
            self._html(200, _device_page(self.oauth))
        else:
            self._html(404, _page("Not found", ""))

    def do_POST(self):  # noqa: N802 (http.server's name)
        path, _query = self._path_and_query()
        form = self._form()
        authorization = self.headers.get("Authorization")
        try:
            if path == "/token":
                self._json(200, self.oauth.token(form, authorization))
            elif path == "/devicecode":
                self._json(200, self.oauth.start_device_flow(form, authorization))
            elif path == "/revoke":
                self.oauth.revoke(form, authorization)
                self._send(200, b"", "text/plain")
            elif path == "/authorize":
                self._authorize(form, decision=form.get("decision"))
            elif path == "/device":
                self._device_decision(form)
            else:
                self._html(404, _page("Not found", ""))
        except OAuthError as exc:
            headers = [("WWW-Authenticate", 'Basic realm="oauthd"')] if exc.basic else []
            answer = {"error": exc.error, "error_description": exc.description}
            self._json(exc.status, answer, headers)

    def _authorize(self, params: dict, decision: str | None) -> None:
        oauth = self.oauth
        client = oauth.clients.get(params.get("client_id", ""))
        redirect_uri = params.get("redirect_uri", "")
        # Never redirect to an address the client did not register (RFC 6749 4.1.2.1).
        if client is None or redirect_uri not in client.redirect_uris:
            problem = (
                "Unknown client." if client is None else "This redirect_uri is not registered."
            )
            self._html(400, _page("Sign-in error", f"<p>{html.escape(problem)}</p>"))
            return
        state = params.get("state", "")
        error = None
        if params.get("response_type") != "code":
            error = "unsupported_response_type"
        elif not params.get("code_challenge") or params.get("code_challenge_method") != "S256":
            error = "invalid_request"  # PKCE with S256 is required here
        if error:
            self._redirect(_redirect_with(redirect_uri, {"error": error, "state": state}))
        elif decision is None:
            self._html(200, _consent_page(oauth, params))
        elif decision == "approve" and params.get("user") in oauth.users:
            code = oauth.new_code(params, params["user"])
            self._redirect(_redirect_with(redirect_uri, {"code": code, "state": state}))
        else:
            params = {"error": "access_denied", "error_description": "The user declined."}
            self._redirect(_redirect_with(redirect_uri, params | {"state": state}))

    def _device_decision(self, form: dict) -> None:
        user = form.get("user", "")
        approve = form.get("decision") == "approve"
        device = self.oauth.decide_device(form.get("user_code", ""), user, approve)
        if device is None or user not in self.oauth.users:
            self._html(400, _device_page(self.oauth, "That code is not valid (or has expired)."))
        else:
            done = "You are signed in" if approve else "You declined the sign-in"
            self._html(200, _page(f"{done}: return to your device.", ""))


@contextmanager
def running_oauth_server(users=("mailer@example.com",)):
    """Serve an :class:`OAuthServer` on 127.0.0.1 (plain HTTP) until the block ends."""
    oauth = OAuthServer(users=list(users))
    handler = type("Handler", (_Handler,), {"oauth": oauth})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    oauth.root = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.daemon = True
    thread.start()
    try:
        yield oauth
    finally:
        server.shutdown()
        server.server_close()
        thread.join(2)


# The person's browser: reads the server's pages and submits their forms.


class _FormReader(HTMLParser):
    """The first form of a page: its action and the values it would submit."""

    def __init__(self) -> None:
        super().__init__()
        self.action, self.values, self._select = None, {}, None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "form" and self.action is None:
            self.action = attrs.get("action", "")
        elif tag == "input" and attrs.get("name") and attrs.get("type") == "hidden":
            self.values[attrs["name"]] = attrs.get("value", "")
        elif tag == "select":
            self._select = attrs.get("name")
        elif tag == "option" and self._select and self._takes(attrs):
            self.values[self._select] = attrs.get("value", "")

    def _takes(self, option: dict) -> bool:
        # The selected option, else the first (what a browser submits).
        return "selected" in option or self._select not in self.values

    def handle_endtag(self, tag):
        if tag == "select":
            self._select = None


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def _open(url: str, data: dict | None = None) -> tuple[int, dict, str]:
    """GET (or POST ``data`` to) ``url`` without following redirects: status, headers, body."""
    opener = urllib.request.build_opener(_NoRedirects)
    body = urllib.parse.urlencode(data).encode() if data is not None else None
    try:
        request = urllib.request.Request(url, data=body)  # noqa: S310 (the test server's http://)
        with opener.open(request, timeout=5) as response:  # noqa: S310
            return response.status, dict(response.headers), response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read().decode()


def consent(authorize_url: str, decision: str = "approve", user: str | None = None) -> str:
    """Open the consent page at ``authorize_url``, press Approve (or Deny) as ``user``
    (default: the account the page preselects), and return where the server redirects."""
    status, _headers, page = _open(authorize_url)
    if status != 200:
        raise AssertionError(f"the authorize page answered {status}: {page[:300]}")
    form = _FormReader()
    form.feed(page)
    values = form.values | {"decision": decision} | ({"user": user} if user else {})
    root = "{0.scheme}://{0.netloc}".format(urllib.parse.urlsplit(authorize_url))
    status, headers, page = _open(root + form.action, values)
    if status != 302:
        raise AssertionError(f"the consent form answered {status}: {page[:300]}")
    return headers["Location"]


def enter_user_code(
    server: OAuthServer, user_code: str, decision: str = "approve", user: str | None = None
) -> str:
    """Type ``user_code`` on the verification page and approve (or deny); the page's answer."""
    _status, _headers, page = _open(server.verification_url)
    form = _FormReader()
    form.feed(page)
    values = form.values | {"user_code": user_code, "decision": decision}
    _status, _headers, answer = _open(
        server.root + form.action, values | ({"user": user} if user else {})
    )
    return answer


# The mail server's side: AUTH XOAUTH2 with this server's tokens.

#: Replies the way Microsoft 365 (Exchange Online) words them.
MICROSOFT_BAD_TOKEN = (
    "535 5.7.3 Authentication unsuccessful [SN4PR0501CA0054.namprd05.prod.outlook.com]"
)
MICROSOFT_SMTP_AUTH_DISABLED = (
    "535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the "
    "Tenant. Visit https://aka.ms/smtp_auth_disabled for more information. "
    "[SN4PR0501CA0054.namprd05.prod.outlook.com]"
)
#: Gmail: a JSON challenge first (the client answers it with an empty line), then the refusal.
GOOGLE_CHALLENGE = '{"status":"401","schemes":"bearer","scope":"https://mail.google.com/"}'
GOOGLE_BAD_TOKEN = (
    "535-5.7.8 Username and Password not accepted. For more information, go to\r\n"
    "535 5.7.8  https://support.google.com/mail/?p=BadCredentials a1-20020a0560001 - gsmtp"
)


class XOAuth2Handler(RecordingHandler):
    """Takes AUTH XOAUTH2 only with a live access token ``oauth`` issued for the user named
    in the SASL string (``user=``), and records every message like a RecordingHandler.

    ``style`` is whose words a refusal is in: ``"microsoft"`` (``535 5.7.3``) or
    ``"google"`` (the base64 JSON challenge, then ``535-5.7.8``). With
    ``smtp_auth_disabled`` every login is refused as Microsoft 365 does for a
    tenant (or mailbox) where SMTP AUTH is turned off (``535 5.7.139``).
    ``attempts`` lists (user, "ok" | "refused" | "disabled") per login.
    """

    def __init__(self, oauth: OAuthServer, style: str = "microsoft", smtp_auth_disabled=False):
        super().__init__()
        if style not in ("microsoft", "google"):
            raise ValueError(style)
        self.oauth, self.style, self.smtp_auth_disabled = oauth, style, smtp_auth_disabled
        self.attempts: list[tuple[str, str]] = []

    async def auth_XOAUTH2(self, server, args):  # noqa: N802 (aiosmtpd's hook name)
        response = args[1] if len(args) > 1 else await server.challenge_auth("")
        if response is MISSING:
            return AuthResult(success=False, handled=True)  # the client cancelled with "*"
        try:
            text = base64.b64decode(response, validate=True).decode("utf-8")
            fields = dict(part.split("=", 1) for part in text.split("\x01") if part)
            user, token = fields["user"], fields["auth"].removeprefix("Bearer ")
        except (ValueError, KeyError, UnicodeDecodeError):
            return AuthResult(success=False, handled=False, message="501 5.5.2 Bad XOAUTH2")
        if self.smtp_auth_disabled:
            self.attempts.append((user, "disabled"))
            return AuthResult(success=False, handled=False, message=MICROSOFT_SMTP_AUTH_DISABLED)
        if self.oauth.access_token_is_live(token, user):
            self.attempts.append((user, "ok"))
            return AuthResult(success=True, auth_data=LoginPassword(user.encode(), b""))
        self.attempts.append((user, "refused"))
        if self.style == "google":
            await server.challenge_auth(GOOGLE_CHALLENGE)
            return AuthResult(success=False, handled=False, message=GOOGLE_BAD_TOKEN)
        return AuthResult(success=False, handled=False, message=MICROSOFT_BAD_TOKEN)
