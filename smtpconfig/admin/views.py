"""The profile page's own views: test the form, detect settings, use a candidate's settings.

Each is an ordinary view wired through ``SMTPProfileAdmin.get_urls()``; the
page's buttons post to them (``formaction``), with JavaScript (answered with
JSON, shown in the page) or without (the change form rendered again, with
what was typed, by Django's own change view: see :func:`render_form_page`).
Nothing here saves the profile: only a test's outcome and the history are
written.
"""

from __future__ import annotations

import copy

from django.contrib import messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.validators import validate_email
from django.forms.models import model_to_dict
from django.forms.utils import ErrorDict
from django.http import Http404, JsonResponse
from django.template.loader import render_to_string
from django.utils.decorators import method_decorator
from django.utils.html import format_html
from django.utils.translation import gettext as _
from django.views.decorators.debug import sensitive_post_parameters, sensitive_variables

from ..exceptions import SMTPConfigImproperlyConfigured
from ..forms import CandidateSettingsForm
from ..models import Security
from ..providers.discovery import discover
from ..providers.oauth import OAuthGrant, OAuthProvider
from ..providers.readiness import microsoft_service
from ..tester import not_recorded_message, outcome_of, run_test, settings_digest, store_outcome
from ..transport.settings import LoginMethod
from . import ratelimit
from .presenters import discovery_context, report_context

#: POST names of the two test buttons on the change form.
SEND_TEST, CHECK_CONNECTION = "_send_test", "_check_connection"
#: POST names of "Detect settings" and a candidate's "Use these settings".
DETECT, USE_SETTINGS = "_detect", "_use_settings"
#: The recipient field of the test panel.
TEST_RECIPIENT_FIELD = "_test_to"

# The request attribute that makes the admin's form class bind to the posted values.
FORM_DATA_ATTRIBUTE = "_smtpconfig_form_data"


def is_ajax(request) -> bool:
    return request.headers.get("X-Requested-With") == "XMLHttpRequest"


def bind_form_class(form_class, data, files, *, validate: bool):
    """``form_class`` bound to ``data`` whenever Django's change view makes one.

    With ``validate=False`` the form shows the values without complaining
    about half-typed ones (after "Detect settings", nothing was meant to be
    checked yet).
    """

    class BoundForm(form_class):
        def __init__(self, *args, **kwargs):
            kwargs["data"], kwargs["files"] = data, files
            super().__init__(*args, **kwargs)
            if not validate:
                self._errors = ErrorDict()

    BoundForm.__name__ = form_class.__name__
    return BoundForm


def render_form_page(model_admin, request, object_id, *, data, validate=True, extra_context=None):
    """The add or change page again, showing ``data``, rendered by Django's change view.

    The change view is asked for the page as on a GET (so it saves nothing),
    with the admin's form class bound to ``data``: every part of the page
    (fieldsets, read-only fields, media, permissions) comes from Django.
    """
    page_request = copy.copy(request)
    page_request.method = "GET"
    setattr(page_request, FORM_DATA_ATTRIBUTE, (data, request.FILES, validate))
    # The form posts back to the page itself ("Save" saves), not to this view's URL.
    return model_admin.changeform_view(
        page_request,
        object_id,
        form_url=model_admin.page_url(object_id),
        extra_context=extra_context,
    )


def form_for_post(model_admin, request, object_id, data=None):
    """(obj or None, the bound form) for a POST about the add or change page.

    Raises Http404 for a profile that does not exist and PermissionDenied for
    a user who may not edit it.
    """
    obj = model_admin.get_object(request, unquote(object_id)) if object_id else None
    if object_id and obj is None:
        raise Http404(_("This profile no longer exists."))
    allowed = (
        model_admin.has_change_permission(request, obj)
        if obj
        else model_admin.has_add_permission(request)
    )
    if not allowed:
        raise PermissionDenied
    form_class = model_admin.get_form(request, obj, change=obj is not None)
    # A copy: validating the form writes its values into the instance, and the page
    # rendered afterwards must compare what was typed with the profile as stored.
    instance = copy.copy(obj) if obj is not None else None
    data = data if data is not None else request.POST
    return obj, form_class(data, request.FILES, instance=instance)


class ProfilePageView:
    """A view of the profile page: answers POSTs, shows the page itself for anything else."""

    def __init__(self, model_admin):
        self.model_admin = model_admin

    #: The POST names of the buttons this view answers.
    buttons: tuple[str, ...] = ()

    @method_decorator(sensitive_post_parameters("password", "oauth_client_secret"))
    def __call__(self, request, object_id=None):
        if request.method != "POST" or not any(name in request.POST for name in self.buttons):
            # Anything else ("Save" from a page this view rendered, a reload) is the page's.
            return self.model_admin.changeform_view(request, object_id)
        return self.post(request, object_id)

    def post(self, request, object_id):
        raise NotImplementedError


class ProfileTestView(ProfilePageView):
    """Test the values in the form, saved or not, and show the result."""

    buttons = (SEND_TEST, CHECK_CONNECTION)

    def post(self, request, object_id):
        admin = self.model_admin
        try:
            obj, form = form_for_post(admin, request, object_id)
        except Http404:
            return admin._get_obj_does_not_exist_redirect(request, admin.opts, object_id)
        if not admin.has_test_permission(request, obj):
            raise PermissionDenied
        report, error, recorded, digest = None, None, True, ""
        if not form.is_valid():
            error = _("Correct the errors below before testing.")
        else:
            try:
                with ratelimit.admitted(request.user.pk):
                    report, error, digest = self.run(request, form)
            except ratelimit.Refused as refusal:
                if is_ajax(request):
                    return JsonResponse(
                        {"form_valid": True, "ok": False, "error": str(refusal)}
                        | {"summary": "", "html": ""},
                        status=429,
                    )
                error = str(refusal)
            if report is not None:
                recorded = self.record(request, object_id, obj, form, report, digest)
        context = report_context(report, form.cleaned_data) if report else {}
        if is_ajax(request):
            return self.json_answer(request, form, report, error, recorded, context)
        if not recorded:
            admin.message_user(request, not_recorded_message(), messages.WARNING)
        if error:
            admin.message_user(request, error, messages.ERROR)
        elif report:
            level = messages.SUCCESS if report.ok else messages.ERROR
            admin.message_user(request, report.summary(), level)
        return render_form_page(
            admin,
            request,
            object_id,
            data=request.POST,
            extra_context={"smtp_test_report": report, **context},
        )

    def run(self, request, form):
        """(report, None, digest of the settings tested), or (None, why the test could not
        run, "")."""
        recipient = request.POST.get(TEST_RECIPIENT_FIELD, "").strip()
        try:
            validate_email(recipient)
        except ValidationError:
            if not recipient:
                return None, _("Enter a valid email address to send the test to."), ""
            error = _("“%(address)s” is not a valid email address.") % {"address": recipient}
            return None, error, ""
        try:
            settings = form.connection_settings()
        except SMTPConfigImproperlyConfigured as exc:
            return None, str(exc), ""
        report = run_test(
            settings,
            recipient,
            send=SEND_TEST in request.POST,
            profile_pk=getattr(form.instance, "pk", None),
        )
        return report, None, settings_digest(settings)

    def record(self, request, object_id, obj, form, report, digest) -> bool:
        """The outcome on a saved profile, kept for the save of these values (see
        test_state), and the test in the history; False if refused."""
        result = outcome_of(report, digest)
        recorded = store_outcome(obj, result) if obj is not None else True
        kind = _("Sent a test email") if report.send else _("Checked the connection")
        if report.ok:
            outcome = _("accepted")
        elif report.failed_step:
            outcome = _("failed at “%(step)s”") % {"step": report.failed_step.label}
        else:
            outcome = _("failed")
        message = _("%(kind)s to %(recipient)s via %(server)s: %(outcome)s") % {
            "kind": kind,
            "recipient": report.recipient,
            "server": f"{report.host}:{report.port}",
            "outcome": outcome,
        }
        if not self.model_admin.log_action(request, obj, form, message):
            return False
        if recorded:  # (a database that refuses writes would refuse the session's too)
            self.model_admin.keep_test(request, object_id, result)
        return recorded

    def json_answer(self, request, form, report, error, recorded, context) -> JsonResponse:
        """The report as HTML for the page's script; an invalid form is shown by a normal
        submit instead (``form_valid``)."""
        html = ""
        if report:
            html = render_to_string("smtpconfig/test_report.html", context, request)
            if not recorded:
                html += format_html('<p class="errornote">{}</p>', not_recorded_message())
        return JsonResponse(
            {
                "form_valid": form.is_valid(),
                "ok": bool(report and report.ok),
                "error": error or "",
                "summary": report.summary() if report else "",
                "html": html,
            }
        )


class DetectSettingsView(ProfilePageView):
    """Candidate settings for the sender address typed in the form."""

    buttons = (DETECT,)

    def post(self, request, object_id):
        admin = self.model_admin
        obj, form = form_for_post(admin, request, object_id)
        address = request.POST.get("from_email", "").strip()
        try:
            # Detection connects to guessed servers: limited like a test.
            with ratelimit.admitted(request.user.pk):
                result = discover(address)
        except ratelimit.Refused as refusal:
            if is_ajax(request):
                html = format_html('<p class="errornote">{}</p>', refusal)
                return JsonResponse(
                    {"error": str(refusal), "html": html, "candidates": []}, status=429
                )
            admin.message_user(request, str(refusal), messages.ERROR)
            result = None
        else:
            admin.log_action(
                request,
                obj,
                form,
                _("Detected settings for %(address)s: %(count)d candidate(s)")
                % {"address": address, "count": len(result.candidates)},
            )
        use_url = admin.view_url("use_settings", object_id)
        discovery = discovery_context(result, use_url) if result else None
        if is_ajax(request):
            return JsonResponse(
                {
                    "html": render_to_string(
                        "smtpconfig/discovery.html", {"discovery": discovery}, request
                    ),
                    "candidates": [c["values"] for c in discovery["candidates"]],
                }
            )
        return render_form_page(
            admin,
            request,
            object_id,
            data=request.POST,
            validate=False,
            extra_context={"smtp_discovery": discovery},
        )


class UseSettingsView(ProfilePageView):
    """Fill the form with a candidate's settings (without JavaScript); nothing is saved."""

    buttons = (USE_SETTINGS,)

    @method_decorator(sensitive_variables("data", "secret"))  # a typed password kept
    def post(self, request, object_id):
        admin = self.model_admin
        candidate = CandidateSettingsForm.from_json(request.POST.get(USE_SETTINGS, ""))
        _obj, form = form_for_post(admin, request, object_id)  # the same permission checks
        data = request.POST.copy()
        if candidate.is_valid():
            # A secret typed (or carried) for the old settings is kept for the chosen ones:
            # the admin picked them on this page, and the page shows them.
            for name, secret in form.secrets_shown().items():
                data[name] = secret
            chosen = candidate.cleaned_data
            data.update(
                {
                    "host": chosen["host"],
                    "port": str(chosen["port"]),
                    "security": chosen["security"],
                    "preset": chosen["preset"],
                }
            )
            if chosen["username"] and not data.get("username"):
                data["username"] = chosen["username"]
            admin.message_user(
                request,
                _("The form now uses %(host)s port %(port)s (%(mode)s). Test it, then save.")
                % {
                    "host": chosen["host"],
                    "port": chosen["port"],
                    "mode": Security(chosen["security"]).label,
                },
            )
        else:
            # Anything but a candidate this page made (forged, truncated, absurd): refused.
            data = request.POST
            admin.message_user(request, _("Those settings could not be read."), messages.ERROR)
        return render_form_page(admin, request, object_id, data=data, validate=False)


def editable_profile(model_admin, request, object_id):
    """(profile, None) for a profile the user may change; (None, the admin's "no longer
    exists" redirect) for one that is gone; PermissionDenied otherwise."""
    profile = model_admin.get_object(request, unquote(object_id))
    if profile is None:
        return None, model_admin._get_obj_does_not_exist_redirect(
            request, model_admin.opts, object_id
        )
    if not model_admin.has_change_permission(request, profile):
        raise PermissionDenied
    return profile, None


class SwitchToOAuthView:
    """The profile's page with OAuth2 chosen, everything else as it is; nothing is saved.

    Name, sender, default flag and failover order stay; the admin fills in the
    app's client id (and secret), saves, and connects the account.
    """

    def __init__(self, model_admin):
        self.model_admin = model_admin

    def __call__(self, request, object_id):
        admin = self.model_admin
        obj, missing = editable_profile(admin, request, object_id)
        if missing is not None:
            return missing
        data = {
            name: value
            for name, value in model_to_dict(obj).items()
            if value is not None and value is not False
        }
        data.update(oauth_settings_for(obj))
        admin.message_user(
            request,
            _(
                "OAuth2 is chosen below: enter the app's client id (and client secret), save, "
                "then connect the account. Nothing is saved until you save."
            ),
        )
        return render_form_page(admin, request, object_id, data=data, validate=False)


def oauth_settings_for(profile) -> dict:
    """OAuth2 settings that fit the profile's provider (Outlook.com, by its host or its
    domain's MX: the consumers tenant)."""
    service, _domain = microsoft_service(profile)
    tenant = "consumers" if service == "outlook" else "organizations"
    return {
        "auth_method": LoginMethod.OAUTH2,
        "oauth_provider": OAuthProvider.MICROSOFT,
        "oauth_grant": OAuthGrant.REFRESH_TOKEN,
        "oauth_tenant": profile.oauth_tenant
        if profile.oauth_tenant not in ("", "organizations")
        else tenant,
    }
