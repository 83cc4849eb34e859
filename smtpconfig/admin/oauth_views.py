"""Connecting a profile's OAuth2 account in the browser: authorization code with PKCE.

"Connect account" sends the administrator to the provider's consent page
with a single-use ``state`` (kept in their session, bound to the profile)
and a PKCE S256 challenge; the provider sends them back to the callback,
which checks the state, trades the code for tokens at the token endpoint
(Authlib's client, through the network policy) and stores the refresh token,
sealed. A wrong or replayed state, a code for another profile, or an error
from the provider (``access_denied``...) is refused with a message and
changes nothing. The message names the account the provider signed in (from
the ID token, when one comes back) and warns when it is not the profile's
user name.
"""

from __future__ import annotations

import time

from authlib.oauth2.base import OAuth2Error
from authlib.oauth2.rfc6749.parameters import parse_authorization_code_response
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseRedirect
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.debug import sensitive_variables

from ..conf import get_setting
from ..exceptions import SMTPConfigImproperlyConfigured, TokenRefused
from ..providers.oauth import OAuthGrant, OAuthProvider
from ..transport import oauth_client
from ..transport.settings import LoginMethod
from ..transport.tokens import Token
from .views import editable_profile

_SESSION_KEY = "smtpconfig_oauth_states"
# How long a consent started in the admin may take.
_STATE_SECONDS = 600


def redirect_uri(model_admin, request) -> str:
    """The callback URL to register at the provider (``OAUTH_REDIRECT_BASE`` pins it)."""
    opts = model_admin.opts
    path = reverse(
        f"{model_admin.admin_site.name}:{opts.app_label}_{opts.model_name}_oauth_callback"
    )
    base = str(get_setting("OAUTH_REDIRECT_BASE") or "").rstrip("/")
    return base + path if base else request.build_absolute_uri(path)


def connected_message(profile, token: Token) -> str:
    """What to tell the administrator once ``profile``'s account is connected: the account
    the provider signed in, and a warning when it is not the profile's user name."""
    if oauth_client.another_account(token.account, profile.username):
        said = {"name": profile.name, "user": profile.username, "account": token.account}
        return (
            _(
                "The account is connected, but the provider signed in %(account)s while "
                "“%(name)s” sends as %(user)s: the mail server may refuse to send as %(user)s "
                "(Microsoft: SendAsDenied). Sign in as %(user)s, or change the user name, and "
                "test it."
            )
            % said
        )
    return _("The account is connected: “%(name)s” signs in as %(user)s. Test it now.") % {
        "name": profile.name,
        "user": token.account or profile.username,
    }


class ConnectAccountView:
    """Send the administrator to the provider's consent page for this profile."""

    def __init__(self, model_admin):
        self.model_admin = model_admin

    def __call__(self, request, object_id):
        admin = self.model_admin
        profile, missing = editable_profile(admin, request, object_id)
        if missing is not None:
            return missing
        change = admin.page_url(profile.pk)
        found = profile.oauth_endpoints()
        if (
            profile.auth_method != LoginMethod.OAUTH2
            or profile.oauth_grant != OAuthGrant.REFRESH_TOKEN
            or not profile.oauth_client_id
            or not found.authorize_url
        ):
            admin.message_user(
                request,
                _(
                    "To connect an account, save the profile with OAuth2, “Connected account”, "
                    "the client id and (for another provider) its endpoints first."
                ),
                messages.ERROR,
            )
            return HttpResponseRedirect(change)
        state = oauth_client.new_state()
        verifier = oauth_client.new_code_verifier()
        now = time.time()
        states = {
            key: value
            for key, value in request.session.get(_SESSION_KEY, {}).items()
            if now - value["at"] < _STATE_SECONDS
        }
        states[state] = {"profile": profile.pk, "verifier": verifier, "at": now}
        request.session[_SESSION_KEY] = states
        extra = {"prompt": "consent"}
        if profile.oauth_provider == OAuthProvider.GOOGLE:
            extra["access_type"] = "offline"  # Google gives a refresh token only then
        if profile.username:
            extra["login_hint"] = profile.username
        return HttpResponseRedirect(
            oauth_client.authorization_url(
                found.authorize_url,
                client_id=profile.oauth_client_id,
                redirect_uri=redirect_uri(admin, request),
                scope=found.scope,
                state=state,
                code_verifier=verifier,
                **extra,
            )
        )


class OAuthCallbackView:
    """Where the provider sends the administrator back: check, trade the code, store."""

    def __init__(self, model_admin):
        self.model_admin = model_admin

    @sensitive_variables("entry", "answer", "data", "secret", "token")
    def __call__(self, request):
        admin = self.model_admin
        states = request.session.get(_SESSION_KEY, {})
        state = request.GET.get("state", "")
        entry = states.pop(state, None)  # single use
        request.session[_SESSION_KEY] = states
        if entry is None or time.time() - entry["at"] > _STATE_SECONDS:
            admin.message_user(
                request,
                _(
                    "This sign-in answer does not belong to a connection started here (or it "
                    "was used already, or it is too old). Nothing was changed: start again "
                    "with “Connect account”."
                ),
                messages.ERROR,
            )
            return HttpResponseRedirect(admin.page_url())
        profile = admin.get_object(request, str(entry["profile"]))
        if profile is None or not admin.has_change_permission(request, profile):
            raise PermissionDenied
        change = admin.page_url(profile.pk)
        if request.GET.get("error"):
            admin.message_user(
                request,
                _("The provider did not connect the account (%(error)s: %(description)s).")
                % {
                    "error": request.GET.get("error", "")[:100],
                    "description": request.GET.get("error_description", "")[:300],
                },
                messages.ERROR,
            )
            return HttpResponseRedirect(change)
        try:
            # The state was checked above, against this session's; Authlib reads the code.
            answer = parse_authorization_code_response(request.get_full_path(), state=state)
        except OAuth2Error:
            answer = {}
        if not answer.get("code"):
            admin.message_user(
                request,
                _(
                    "The provider's answer has no authorization code. Nothing was changed: "
                    "start again with “Connect account”."
                ),
                messages.ERROR,
            )
            return HttpResponseRedirect(change)
        found = profile.oauth_endpoints()
        try:
            secret = profile.oauth_client_secret
            data = oauth_client.request_token(
                found.token_url,
                grant_type="authorization_code",
                client_id=profile.oauth_client_id,
                client_secret=secret,
                timeout=float(profile.timeout),
                code=answer["code"],
                redirect_uri=redirect_uri(admin, request),
                code_verifier=entry["verifier"],
            )
            token = Token.from_response(data)
        except (TokenRefused, OSError, SMTPConfigImproperlyConfigured) as exc:
            admin.message_user(
                request,
                _("The account could not be connected: %(error)s") % {"error": exc},
                messages.ERROR,
            )
            return HttpResponseRedirect(change)
        if not token.refresh_token:
            admin.message_user(
                request,
                _(
                    "The provider gave no refresh token, so the connection would not last: "
                    "add offline_access to the scopes (Microsoft) and connect again."
                ),
                messages.ERROR,
            )
            return HttpResponseRedirect(change)
        profile.oauth_refresh_token = token.refresh_token
        profile.oauth_account = token.account or profile.username
        profile.oauth_connected_at = timezone.now()
        profile.save()
        admin.log_change(request, profile, _("OAuth2 account connected"))
        admin.message_user(
            request,
            connected_message(profile, token),
            messages.WARNING
            if oauth_client.another_account(token.account, profile.username)
            else messages.SUCCESS,
        )
        return HttpResponseRedirect(change)
