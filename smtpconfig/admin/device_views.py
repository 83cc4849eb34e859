"""Connecting a profile's OAuth2 account in the admin with a code (device code flow, RFC 8628).

No redirect URI at all: "Connect with a code" asks the provider for a code,
and the page shows it with the provider's sign-in address, which the
administrator opens on any device. Meanwhile the page asks this server, every
``interval`` seconds (JavaScript) or when the administrator says so (a
button), to ask the provider once whether the sign-in is done; when it is,
the refresh token is stored, sealed, and the page goes back to the profile.

The device code is a secret (whoever holds it gets the token): it stays in
the administrator's session, under the profile it was started for, and is
never put in the page.
"""

from __future__ import annotations

import http.client
import math
import time
from dataclasses import asdict, dataclass, fields
from datetime import timedelta

from django.contrib import messages
from django.http import HttpResponseNotAllowed, HttpResponseRedirect, JsonResponse
from django.template.response import TemplateResponse
from django.utils import timezone
from django.utils.decorators import method_decorator
from django.utils.translation import gettext as _
from django.views.decorators.debug import sensitive_post_parameters, sensitive_variables

from ..exceptions import SMTPConfigImproperlyConfigured, TokenRefused
from ..providers import device_code
from ..providers.oauth import OAuthGrant
from ..transport.settings import LoginMethod
from .views import editable_profile, is_ajax

_SESSION_KEY = "smtpconfig_device_codes"
TEMPLATE = "admin/smtpconfig/smtpprofile/device_code.html"
#: What a provider's answer could not be read as (``start`` reads numbers from it) and an
#: HTTP exchange that broke off: the endpoint could not be asked, as when it is unreachable.
_UNREADABLE = (ValueError, TypeError, http.client.HTTPException)


def device_code_url(profile) -> str:
    """The provider's device authorization endpoint when the profile can connect an account
    with a code (OAuth2, a connected account, a client id); '' otherwise."""
    if (
        profile.auth_method != LoginMethod.OAUTH2
        or profile.oauth_grant != OAuthGrant.REFRESH_TOKEN
        or not profile.oauth_client_id
    ):
        return ""
    return profile.oauth_endpoints().device_code_url


@dataclass(frozen=True)
class Status:
    """Where a sign-in stands, for the page and for its script."""

    #: waiting, unreachable (for now: asked again), connected, expired, denied, failed
    state: str
    message: str
    #: Nothing more to wait for: the page offers to start again.
    final: bool = False
    interval: int = 5
    redirect: str = ""


def _entries(request) -> dict:
    """The session's sign-ins under way, by profile id (as a string)."""
    return request.session.get(_SESSION_KEY, {})


def _store(request, key: str, entry: dict | None) -> None:
    """Keep ``entry`` for profile ``key`` (None: forget it), dropping others' expired ones."""
    now = time.time()
    entries = {
        other: value
        for other, value in _entries(request).items()
        if other != key and value["expires_at"] > now
    }
    if entry is not None:
        entries[key] = entry
    request.session[_SESSION_KEY] = entries


class _DeviceCodeView:
    def __init__(self, model_admin):
        self.model_admin = model_admin

    def entry(self, request, profile) -> dict | None:
        """This profile's sign-in under way in this session, expired or not."""
        return _entries(request).get(str(profile.pk))

    def refuse(self, request, profile, text: str):
        """Back to the profile with ``text``, or (to the script) ``text`` as a final status."""
        change = self.model_admin.page_url(profile.pk)
        if is_ajax(request):
            return JsonResponse(
                asdict(Status("failed", text, final=True, redirect=change)), status=400
            )
        self.model_admin.message_user(request, text, messages.ERROR)
        return HttpResponseRedirect(change)

    def no_sign_in(self, request, profile):
        return self.refuse(
            request,
            profile,
            _(
                "No sign-in with a code is under way for “%(name)s” here. Start one with "
                "“Connect with a code”."
            )
            % {"name": profile.name},
        )

    def render(self, request, profile, entry: dict, status: Status):
        admin = self.model_admin
        request.current_app = admin.admin_site.name
        remaining = max(0.0, entry["expires_at"] - time.time())
        uri = entry["verification_uri"]
        context = {
            **admin.admin_site.each_context(request),
            "opts": admin.opts,
            "original": profile,
            "title": _("Connect “%(name)s” with a code") % {"name": profile.name},
            "user_code": entry["user_code"],
            "verification_uri": uri,
            # Only a web address is a link: the provider's answer is not trusted with more.
            "verification_link": uri if uri.startswith(("https://", "http://")) else "",
            "minutes": math.ceil(remaining / 60),
            "expires_at": timezone.now() + timedelta(seconds=remaining),
            "status": status,
            "start_url": admin.view_url("oauth_device", profile.pk),
            "poll_url": admin.view_url("oauth_device_poll", profile.pk),
            "change_url": admin.page_url(profile.pk),
        }
        return TemplateResponse(request, TEMPLATE, context)


class DeviceCodeView(_DeviceCodeView):
    """POST: ask the provider for a code and show it; GET: show the code again."""

    @method_decorator(sensitive_post_parameters())  # the change form's fields come along
    @sensitive_variables("code", "entry")
    def __call__(self, request, object_id):
        admin = self.model_admin
        profile, missing = editable_profile(admin, request, object_id)
        if missing is not None:
            return missing
        if request.method == "GET":
            entry = self.entry(request, profile)
            if entry is None:
                return self.no_sign_in(request, profile)
            if entry["expires_at"] <= time.time():
                _store(request, str(profile.pk), None)
                return self.render(request, profile, entry, _expired())
            return self.render(request, profile, entry, _waiting(entry["interval"]))
        if request.method != "POST":
            return HttpResponseNotAllowed(["GET", "POST"])
        url = device_code_url(profile)
        if not url:
            return self.refuse(
                request,
                profile,
                _(
                    "To connect with a code, save the profile with OAuth2, “Connected account”, "
                    "the client id and (for another provider) its device authorization endpoint "
                    "first."
                ),
            )
        scope = profile.oauth_endpoints().scope
        try:
            code = device_code.start_for(profile, url, scope)
        except TokenRefused as exc:
            return self.refuse(
                request,
                profile,
                _("The provider gave no code: %(error)s") % {"error": exc},
            )
        except (OSError, SMTPConfigImproperlyConfigured, *_UNREADABLE) as exc:
            return self.refuse(
                request,
                profile,
                _("The provider could not be asked for a code: %(error)s") % {"error": exc},
            )
        entry = {**asdict(code), "expires_at": time.time() + code.expires_in}
        _store(request, str(profile.pk), entry)
        # Back to the page with a GET, so that reloading it does not ask for another code.
        return HttpResponseRedirect(admin.view_url("oauth_device", profile.pk))


class DeviceCodePollView(_DeviceCodeView):
    """POST: ask the token endpoint once whether the sign-in is done.

    With ``X-Requested-With: XMLHttpRequest`` (the page's script) the answer is
    a :class:`Status` as JSON; otherwise the page again, or the profile's page
    once the account is connected.
    """

    @sensitive_variables("entry", "code", "secret", "token")
    def __call__(self, request, object_id):
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        admin = self.model_admin
        profile, missing = editable_profile(admin, request, object_id)
        if missing is not None:
            return missing
        entry = self.entry(request, profile)
        if entry is None:
            return self.no_sign_in(request, profile)
        key = str(profile.pk)
        if entry["expires_at"] <= time.time():
            status = _expired()
        else:
            status = self.poll(request, profile, entry)
        if status.final:
            _store(request, key, None)
        elif status.interval != entry["interval"]:
            _store(request, key, {**entry, "interval": status.interval})
        if is_ajax(request):
            return JsonResponse(asdict(status))
        if status.redirect:
            return HttpResponseRedirect(status.redirect)
        return self.render(request, profile, entry, status)

    @sensitive_variables("entry", "code", "secret", "token")
    def poll(self, request, profile, entry: dict) -> Status:
        """One question to the token endpoint; the account is stored once it is connected."""
        code = device_code.DeviceCode(
            **{field.name: entry[field.name] for field in fields(device_code.DeviceCode)}
        )
        found = profile.oauth_endpoints()
        try:
            secret = profile.oauth_client_secret
            token = device_code.poll(
                code,
                token_url=found.token_url,
                client_id=profile.oauth_client_id,
                client_secret=secret,
                timeout=float(profile.timeout),
                interval=entry["interval"],
            )
        except device_code.Pending as pending:
            return _waiting(pending.interval)
        except TokenRefused as exc:
            if exc.error == "expired_token":
                return _expired()
            if exc.error == "access_denied":
                return Status(
                    "denied",
                    _(
                        "The sign-in was refused at the provider (or cancelled there). Nothing "
                        "was changed; start again to try once more."
                    ),
                    final=True,
                )
            return Status(
                "failed",
                _("The provider did not connect the account: %(error)s. Nothing was changed.")
                % {"error": exc},
                final=True,
            )
        except SMTPConfigImproperlyConfigured as exc:
            return Status(
                "failed",
                _("The account could not be connected: %(error)s") % {"error": exc},
                final=True,
            )
        except (OSError, *_UNREADABLE) as exc:
            # Perhaps only for a moment: the code stays valid, so the page may ask again.
            return Status(
                "unreachable",
                _(
                    "The provider's token endpoint could not be reached (%(error)s). Nothing "
                    "was changed; the page asks again."
                )
                % {"error": exc},
                interval=entry["interval"],
            )
        if not token.refresh_token:
            return Status(
                "failed",
                _(
                    "The provider gave no refresh token, so the connection would not last: "
                    "add offline_access to the scopes (Microsoft) and connect again."
                ),
                final=True,
            )
        admin = self.model_admin
        profile.oauth_refresh_token = token.refresh_token
        profile.oauth_account = profile.username
        profile.oauth_connected_at = timezone.now()
        profile.save()
        admin.log_change(request, profile, _("OAuth2 account connected with a code"))
        text = _("The account is connected: “%(name)s” signs in as %(user)s. Test it now.") % {
            "name": profile.name,
            "user": profile.username,
        }
        admin.message_user(request, text, messages.SUCCESS)
        return Status(
            "connected", text, final=True, redirect=admin.page_url(profile.pk), interval=0
        )


def _waiting(interval: int) -> Status:
    return Status(
        "waiting",
        _("Not signed in yet: waiting for you to finish signing in at the provider."),
        interval=interval,
    )


def _expired() -> Status:
    return Status(
        "expired",
        _("The code expired before the sign-in was done. Nothing was changed: start again."),
        final=True,
    )
