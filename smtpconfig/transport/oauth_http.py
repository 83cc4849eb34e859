"""HTTP for the OAuth2 client: a POST to an authorization server through the app's network
policy.

Authlib speaks the protocol (:mod:`.oauth_client`); this module only carries its
requests. Like every outgoing connection of the app, a POST goes through the one
resolver and network policy (:mod:`.network`, so ``BLOCKED_NETWORKS`` applies to a
token endpoint the administrator typed), with certificate verification (plus
``OAUTH_CA_CERTIFICATE``) and within the profile's timeout, and at most 64 KiB of the
answer is read (:mod:`.http_post`, the app's one road out for HTTP).
"""

from __future__ import annotations

import json
import urllib.parse

from django.utils.translation import gettext as _
from django.views.decorators.debug import sensitive_variables

from ..conf import get_setting
from ..exceptions import TokenRefused
from . import http_post

# The most of an authorization server's answer that is read.
MAX_RESPONSE_BYTES = 64 * 1024

_FORM_HEADERS = {
    "Content-Type": "application/x-www-form-urlencoded",
    "Accept": "application/json",
}


def endpoint_scheme_allowed(url: str) -> bool:
    """Whether an OAuth2 endpoint's scheme may be used: https://, or http:// when
    ``SMTPCONFIG["OAUTH_ALLOW_HTTP"]`` is on."""
    scheme = urllib.parse.urlsplit(url).scheme
    return scheme == "https" or (scheme == "http" and bool(get_setting("OAUTH_ALLOW_HTTP")))


@sensitive_variables("body", "headers")
def post(url: str, body: str, headers: dict[str, str], timeout: float) -> tuple[int, bytes]:
    """POST ``body`` to ``url`` through the network policy; (status, at most 64 KiB + 1).

    ``http://`` is refused unless ``SMTPCONFIG["OAUTH_ALLOW_HTTP"]`` is on (a test
    authorization server): the body carries client secrets, codes and refresh tokens.
    """
    if not endpoint_scheme_allowed(url) or not urllib.parse.urlsplit(url).hostname:
        raise TokenRefused("invalid_request", _("the token endpoint must be an https:// URL"))
    return http_post.post(
        url,
        body.encode("utf-8"),
        headers,
        timeout,
        ca_pem=_extra_ca(),
        max_response_bytes=MAX_RESPONSE_BYTES,
    )


@sensitive_variables("form")
def post_form(url: str, form: dict[str, str], timeout: float) -> tuple[int, bytes]:
    """POST ``form`` (URL-encoded) to ``url`` through the network policy; (status, body)."""
    return post(url, urllib.parse.urlencode(form), dict(_FORM_HEADERS), timeout)


def read_json(status: int, payload: bytes) -> dict:
    """The endpoint's JSON answer; :class:`TokenRefused` when there is none or it is too long."""
    if len(payload) > MAX_RESPONSE_BYTES:
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


def refusal(data: dict, status: int) -> TokenRefused:
    """The error an answer states (RFC 6749 section 5.2), bounded in length; ``http_<status>``
    when it states none."""
    return TokenRefused(
        str(data.get("error") or f"http_{status}")[:100],
        str(data.get("error_description") or "")[:500],
    )


class Response:
    """What Authlib's client reads of an answer: ``status_code``, ``json()`` and
    ``raise_for_status()``, each raising :class:`TokenRefused` in our words."""

    def __init__(self, status_code: int, content: bytes):
        self.status_code = status_code
        self.content = content
        self._data: dict | None = None

    def json(self) -> dict:
        """The JSON object answered (the same object on each call)."""
        if self._data is None:
            self._data = read_json(self.status_code, self.content)
        return self._data

    def raise_for_status(self) -> None:
        """:class:`TokenRefused` for an HTTP error: the error it states, else its status."""
        if self.status_code >= 400:
            raise refusal(self.json(), self.status_code)


class PolicySession:
    """The requests-like session Authlib's ``OAuth2Client`` is given: each ``post`` goes
    through :func:`post` with this session's timeout, after the client's authentication
    (``auth.prepare``) has been applied to the form and headers."""

    def __init__(self, timeout: float):
        self.timeout = timeout

    @sensitive_variables("data", "headers", "auth", "body")
    def post(self, url: str, data=None, headers=None, auth=None, **kwargs) -> Response:
        """POST ``data`` as a form; ``auth`` is Authlib's client (or token) authentication."""
        body = urllib.parse.urlencode(data or {})
        headers = {**_FORM_HEADERS, **(headers or {})}  # a copy: auth adds to it
        if auth is not None:
            url, headers, body = auth.prepare("POST", url, headers, body)
        status, payload = post(url, body, headers, self.timeout)
        return Response(status, payload)


def _extra_ca() -> str:
    # A private CA for token endpoints (tests, an in-house identity provider).
    return str(get_setting("OAUTH_CA_CERTIFICATE") or "")
