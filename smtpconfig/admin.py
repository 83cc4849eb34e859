"""The admin for SMTP profiles: list, grouped form, presets and the test buttons."""

from __future__ import annotations

import json
import logging

from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.admin.utils import unquote
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.validators import validate_email
from django.db import DatabaseError, transaction
from django.forms.utils import ErrorDict
from django.http import Http404, JsonResponse
from django.template.defaultfilters import date as date_filter
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.decorators import method_decorator
from django.utils.html import format_html, format_html_join
from django.utils.timesince import timesince
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.debug import sensitive_post_parameters

from . import ratelimit
from .discovery import discover
from .domain_health import check_sender_domain
from .exceptions import SMTPConfigImproperlyConfigured
from .forms import SMTPProfileForm
from .models import DeliveryLog, Security, SMTPProfile
from .presets import PRESETS, get_preset
from .probe import STEP_LABELS, ProbeReport
from .tester import (
    field_label,
    not_recorded_message,
    record_outcome,
    run_test,
    suggestion_label,
)
from .validators import HeaderSafeValidator, validate_smtp_host

logger = logging.getLogger("smtpconfig")

#: POST names of the two test buttons on the change form.
SEND_TEST, CHECK_CONNECTION = "_send_test", "_check_connection"
#: POST names of "Detect settings" and a candidate's "Use these settings".
DETECT, USE_SETTINGS = "_detect", "_use_settings"


def _banners(profiles, *, single: bool = False) -> list[tuple[int, str]]:
    """Warnings worth a banner: no default, a failing default, unverified TLS, lost passwords."""
    banners = []
    profiles = list(profiles)
    if not single:
        default = next((p for p in profiles if p.is_default and p.enabled), None)
        if not profiles:
            banners.append(
                (
                    messages.WARNING,
                    _(
                        "No SMTP profile yet: the site's mail goes out through Django's EMAIL_* "
                        "settings. Add a profile and make it the default."
                    ),
                )
            )
        elif default is None:
            banners.append(
                (
                    messages.WARNING,
                    _(
                        "No enabled profile is the default: mail goes through the first "
                        "enabled profile, or Django's EMAIL_* settings if none is enabled. "
                        "Tick “default” on the profile the site should use."
                    ),
                )
            )
        elif default.last_test_ok is False:
            banners.append(
                (
                    messages.ERROR,
                    _(
                        "The last test of the default profile “%(name)s” failed: the site's "
                        "mail may not be going out. Open it to see why."
                    )
                    % {"name": default.name},
                )
            )
    for profile in profiles:
        if not profile.verify_certificate and profile.security != Security.NONE:
            banners.append(
                (
                    messages.WARNING,
                    _(
                        "Certificate verification is off for “%(name)s”: the connection can be "
                        "intercepted. Turn it on, or paste the server's CA certificate instead."
                    )
                    % {"name": profile.name},
                )
            )
        if profile.password_unreadable:
            banners.append(
                (
                    messages.ERROR,
                    _(
                        "The stored password of “%(name)s” cannot be decrypted with the configured "
                        "encryption key: type it again (or restore the old key)."
                    )
                    % {"name": profile.name},
                )
            )
    return banners


def _without(fieldsets, field_name: str) -> list:
    """``fieldsets`` without ``field_name``."""
    return [
        (name, {**options, "fields": [f for f in options["fields"] if f != field_name]})
        for name, options in fieldsets
    ]


TEST_RECIPIENT_FIELD = "_test_to"


def report_context(report: ProbeReport, settings: dict | None = None) -> dict:
    """What the report template needs besides the report itself.

    With ``settings`` (the form's values) and a passing test, the sender
    domain's DNS findings are added: the server took the message, and they
    say whether receivers will.
    """
    diagnosis = report.diagnosis
    findings = []
    if settings and settings.get("from_email") and report.ok:
        findings = check_sender_domain(settings["from_email"], settings.get("host", ""))
    return {
        "report": report,
        "smtp_diagnosis_field_label": field_label(diagnosis.field) if diagnosis else "",
        "smtp_diagnosis_suggestion": suggestion_label(diagnosis) if diagnosis else "",
        "findings": findings,
    }


_CONFIDENCE_LABELS = {
    "high": gettext_lazy("sure"),
    "medium": gettext_lazy("likely"),
    "low": gettext_lazy("a guess"),
}


def discovery_context(result) -> dict:
    """Discovery results as the template and the page's script need them."""
    candidates = []
    for candidate in result.candidates:
        values = {
            "host": candidate.host,
            "port": candidate.port,
            "security": candidate.security,
            "username": candidate.username,
            "preset": candidate.preset,
        }
        candidates.append(
            {
                **candidate.as_dict(),
                "values": values,
                "json": json.dumps(values),
                "security_label": Security(candidate.security).label,
                "confidence_label": _CONFIDENCE_LABELS.get(candidate.confidence, ""),
            }
        )
    return {"address": result.address, "candidates": candidates, "notes": result.notes}


@admin.register(SMTPProfile)
class SMTPProfileAdmin(admin.ModelAdmin):
    form = SMTPProfileForm
    save_on_top = True  # so that Enter in a field saves rather than sends a test
    list_display = [
        "name",
        "order_column",
        "server_column",
        "security_column",
        "sender_column",
        "is_default",
        "enabled",
        "last_test_column",
    ]
    list_display_links = ["name"]
    # A site has a handful of profiles: a filter sidebar would only squeeze the table.
    search_fields = ["name", "host", "from_email", "username"]
    readonly_fields = [
        "created_at",
        "updated_at",
        "last_test_column",
        "last_test_details",
        "sender_domain_health",
    ]
    actions = ["make_default"]

    fieldsets = (
        (None, {"fields": ["name"]}),
        (
            gettext_lazy("Server"),
            {"fields": ["preset", "preset_region", "host", "port", "security"]},
        ),
        (
            gettext_lazy("Authentication"),
            {"fields": ["username", "password", "clear_password"]},
        ),
        (
            gettext_lazy("Sender"),
            {"fields": ["from_name", "from_email", "reply_to", "sender_domain_health"]},
        ),
        (
            gettext_lazy("Options"),
            {
                "fields": [
                    "timeout",
                    "verify_certificate",
                    "allow_plaintext_auth",
                    "ca_certificate",
                    "test_recipient",
                    "enabled",
                    "is_default",
                ]
            },
        ),
        (
            gettext_lazy("Routing and failover"),
            {"fields": ["priority", "sender_domains"]},
        ),
        (
            gettext_lazy("History"),
            {"fields": ["created_at", "updated_at", "last_test_column", "last_test_details"]},
        ),
    )

    class Media:
        css = {"all": ["smtpconfig/admin.css"]}
        js = ["smtpconfig/profile_form.js"]

    # The list.

    @admin.display(description=gettext_lazy("order"), ordering="priority")
    def order_column(self, profile: SMTPProfile) -> int:
        return profile.priority

    @admin.display(description=gettext_lazy("server"), ordering="host")
    def server_column(self, profile: SMTPProfile) -> str:
        return profile.server

    @admin.display(description=gettext_lazy("SSL/TLS mode"), ordering="security")
    def security_column(self, profile: SMTPProfile) -> str:
        label = Security(profile.security).label
        if profile.security != Security.NONE and not profile.verify_certificate:
            return format_html(
                '{} <span class="smtpconfig-warning" title="{}">⚠ {}</span>',
                label,
                _("The server's certificate is not checked: the connection can be intercepted."),
                _("certificate not verified"),
            )
        if profile.security == Security.NONE and profile.username:
            return format_html(
                '{} <span class="smtpconfig-warning">⚠ {}</span>', label, _("unencrypted")
            )
        return label

    @admin.display(description=gettext_lazy("sender"), ordering="from_email")
    def sender_column(self, profile: SMTPProfile) -> str:
        return format_html('<span title="{}">{}</span>', profile.sender, profile.from_email)

    @admin.display(description=gettext_lazy("last test"), ordering="last_test_at")
    def last_test_column(self, profile: SMTPProfile) -> str:
        if profile.last_test_at is None:
            return _("never")
        if profile.last_test_ok:
            outcome = _("passed")
        else:
            failed_step = (profile.last_test_report or {}).get("failed_step")
            outcome = (
                _("failed at “%(step)s”") % {"step": STEP_LABELS[failed_step]}
                if failed_step in STEP_LABELS
                else _("failed")
            )
        return format_html(
            '<span class="smtpconfig-last-test smtpconfig-{}" title="{}">{}, {}</span>',
            "ok" if profile.last_test_ok else "failed",
            profile.last_test_message,
            outcome,
            _("just now")
            if (timezone.now() - profile.last_test_at).total_seconds() < 60
            else _("%(time)s ago") % {"time": timesince(profile.last_test_at)},
        )

    @admin.display(description=gettext_lazy("sender domain DNS"))
    def sender_domain_health(self, profile: SMTPProfile) -> str:
        return render_to_string(
            "smtpconfig/domain_health.html",
            {"findings": check_sender_domain(profile.from_email, profile.host)},
        )

    @admin.display(description=gettext_lazy("last test report"))
    def last_test_details(self, profile: SMTPProfile) -> str:
        if not profile.last_test_report:
            return _("No test yet.")
        report = ProbeReport.from_dict(profile.last_test_report)
        return render_to_string(
            "smtpconfig/test_report.html", {**report_context(report), "folded": True}
        )

    @admin.action(
        description=gettext_lazy("Make the selected profile the default"),
        permissions=["change"],
    )
    def make_default(self, request, queryset):
        if queryset.count() != 1:
            self.message_user(
                request, _("Select exactly one profile to make it the default."), messages.ERROR
            )
            return
        profile = queryset.get()
        if profile.is_default:
            self.message_user(
                request, _("“%(name)s” is already the default profile.") % {"name": profile.name}
            )
            return
        previous = self._other_defaults(profile)
        profile.is_default = True
        profile.save(update_fields=["is_default", "updated_at"])
        self.log_change(request, profile, [{"changed": {"fields": [_("default")]}}])
        self._log_demoted(request, previous, profile)
        self.message_user(
            request, _("“%(name)s” is now the default profile.") % {"name": profile.name}
        )

    def _other_defaults(self, profile: SMTPProfile) -> list[SMTPProfile]:
        """The profiles that lose the default mark when ``profile`` takes it."""
        others = SMTPProfile.objects.filter(is_default=True)
        return list(others.exclude(pk=profile.pk) if profile.pk else others)

    def _log_demoted(self, request, demoted: list[SMTPProfile], new_default: SMTPProfile) -> None:
        """Put "no longer the default" in the history of each profile that lost the mark."""
        for profile in demoted:
            self.log_change(
                request,
                profile,
                _("No longer the default: “%(name)s” is the default now.")
                % {"name": new_default.name},
            )

    # The form.

    def get_object(self, request, object_id, from_field=None):
        """The profile, fetched once per request: the banners, the test panel and
        Django's change view all ask for it before the form touches it."""
        fetched = request.__dict__.setdefault("_smtpconfig_objects", {})
        key = (object_id, from_field)
        if key not in fetched:
            fetched[key] = super().get_object(request, object_id, from_field)
        return fetched[key]

    def changelist_view(self, request, extra_context=None):
        if request.method == "GET":
            for level, text in _banners(SMTPProfile.objects.all()):
                self.message_user(request, text, level)
        return super().changelist_view(request, extra_context)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        if request.method == "GET":
            profile = self.get_object(request, unquote(object_id))
            if profile is not None:
                for level, text in _banners([profile], single=True):
                    self.message_user(request, text, level)
        return super().change_view(request, object_id, form_url, extra_context)

    def get_fieldsets(self, request, obj=None):
        fieldsets = super().get_fieldsets(request, obj)
        if obj is None:  # nothing to show under History, nor a saved domain, yet
            fieldsets = [fs for fs in fieldsets if "created_at" not in fs[1]["fields"]]
            fieldsets = _without(fieldsets, "sender_domain_health")
        if obj is None or not obj.has_password:  # nothing to clear
            fieldsets = _without(fieldsets, "clear_password")
        return fieldsets

    @method_decorator(sensitive_post_parameters("password"))
    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        extra_context = {**(extra_context or {}), **self._test_panel_context(request, object_id)}
        if request.method == "POST":
            if SEND_TEST in request.POST or CHECK_CONNECTION in request.POST:
                return self._test_view(request, object_id, form_url, extra_context)
            if DETECT in request.POST:
                return self._detect_view(request, object_id, form_url, extra_context)
            if USE_SETTINGS in request.POST:
                return self._use_settings_view(request, object_id, form_url, extra_context)
        return super().changeform_view(request, object_id, form_url, extra_context)

    def _form_for_post(self, request, object_id, data=None):
        """(add, obj, bound form) for a POST to the add or change page; checks permissions."""
        add = object_id is None
        obj = None if add else self.get_object(request, unquote(object_id))
        if not add and obj is None:
            raise Http404(_("This profile no longer exists."))
        allowed = (
            self.has_add_permission(request) if add else self.has_change_permission(request, obj)
        )
        if not allowed:
            raise PermissionDenied
        form_class = self.get_form(request, obj, change=not add)
        return add, obj, form_class(data or request.POST, request.FILES, instance=obj)

    def _render_form_page(
        self, request, *, add, obj, form, object_id, form_url, extra_context, validate=True
    ):
        """The change form again, with what was typed, as Django's admin renders it."""
        if not validate:
            form._errors = ErrorDict()  # show the values, not complaints about half-typed ones
        fieldsets = self.get_fieldsets(request, obj)
        admin_form = helpers.AdminForm(
            form,
            list(fieldsets),
            self.get_prepopulated_fields(request, obj),
            self.get_readonly_fields(request, obj),
            model_admin=self,
        )
        title = _("Add %s") if add else _("Change %s")
        context = {
            **self.admin_site.each_context(request),
            "title": title % self.opts.verbose_name,
            "subtitle": str(obj) if obj else None,
            "adminform": admin_form,
            "object_id": object_id,
            "original": obj,
            "is_popup": False,
            "to_field": None,
            "media": self.media + admin_form.media,
            "inline_admin_formsets": [],
            "errors": helpers.AdminErrorList(form, []) if validate else [],
            "preserved_filters": self.get_preserved_filters(request),
            **extra_context,
        }
        return self.render_change_form(
            request, context, add=add, change=not add, obj=obj, form_url=form_url
        )

    def _detect_view(self, request, object_id, form_url, extra_context):
        """Candidate settings for the sender address typed in the form."""
        add, obj, form = self._form_for_post(request, object_id)
        address = request.POST.get("from_email", "").strip()
        ajax = request.headers.get("X-Requested-With") == "XMLHttpRequest"
        try:
            # Detection connects to guessed servers: limited like a test.
            with ratelimit.admitted(request.user.pk):
                result = discover(address)
        except ratelimit.Refused as refusal:
            if ajax:
                html = format_html('<p class="errornote">{}</p>', refusal)
                return JsonResponse(
                    {"error": str(refusal), "html": html, "candidates": []}, status=429
                )
            self.message_user(request, str(refusal), messages.ERROR)
            result = None
        else:
            self._log_history(
                request,
                obj,
                form,
                _("Detected settings for %(address)s: %(count)d candidate(s)")
                % {"address": address, "count": len(result.candidates)},
            )
        discovery = discovery_context(result) if result else None
        if ajax:
            return JsonResponse(
                {
                    "html": render_to_string(
                        "smtpconfig/discovery.html", {"discovery": discovery}, request
                    ),
                    "candidates": [c["values"] for c in discovery["candidates"]],
                }
            )
        return self._render_form_page(
            request,
            add=add,
            obj=obj,
            form=form,
            object_id=object_id,
            form_url=form_url,
            extra_context={**extra_context, "smtp_discovery": discovery},
            validate=False,
        )

    def _use_settings_view(self, request, object_id, form_url, extra_context):
        """Fill the form with a candidate's settings (without JavaScript); nothing is saved."""
        try:
            chosen = json.loads(request.POST.get(USE_SETTINGS, ""))
            host, port, security = str(chosen["host"]), int(chosen["port"]), str(chosen["security"])
            username = str(chosen.get("username") or "")
            validate_smtp_host(host)
            HeaderSafeValidator()(username)
            username.encode("utf-8")  # a JSON-escaped lone surrogate cannot be
            if not 0 < port < 65536 or security not in Security.values or len(username) > 254:
                raise ValueError
        except (ValueError, KeyError, TypeError, OverflowError, RecursionError, ValidationError):
            # Anything but a candidate this page made (forged, truncated, absurd): refused.
            data = None
            self.message_user(request, _("Those settings could not be read."), messages.ERROR)
        else:
            data = request.POST.copy()
            data.update({"host": host, "port": str(port), "security": security})
            data["preset"] = chosen.get("preset") if get_preset(str(chosen.get("preset"))) else ""
            if username and not data.get("username"):
                data["username"] = username
            self.message_user(
                request,
                _("The form now uses %(host)s port %(port)s (%(mode)s). Test it, then save.")
                % {"host": host, "port": port, "mode": Security(security).label},
            )
        add, obj, form = self._form_for_post(request, object_id, data)
        return self._render_form_page(
            request,
            add=add,
            obj=obj,
            form=form,
            object_id=object_id,
            form_url=form_url,
            extra_context=extra_context,
            validate=False,
        )

    def _test_panel_context(self, request, object_id) -> dict:
        profile = self.get_object(request, unquote(object_id)) if object_id else None
        recipient = request.POST.get(TEST_RECIPIENT_FIELD) if request.method == "POST" else None
        if recipient is None:
            recipient = (profile.test_recipient if profile else "") or request.user.email
        return {
            "smtp_can_test": self.has_test_permission(request, profile),
            "smtp_presets": [preset.as_dict() for preset in PRESETS],
            "smtp_test_to": recipient,
            "smtp_test_recipient_field": TEST_RECIPIENT_FIELD,
            "smtp_send_test": SEND_TEST,
            "smtp_check_connection": CHECK_CONNECTION,
        }

    def _test_view(self, request, object_id, form_url, extra_context):
        """Test the values in the form, saved or not, and show the form again with the result."""
        try:
            add, obj, form = self._form_for_post(request, object_id)
        except Http404:
            return self._get_obj_does_not_exist_redirect(request, self.opts, object_id)
        if not self.has_test_permission(request, obj):
            raise PermissionDenied
        ajax = request.headers.get("X-Requested-With") == "XMLHttpRequest"
        report, error, recorded = None, None, True
        if not form.is_valid():
            error = _("Correct the errors below before testing.")
        else:
            try:
                with ratelimit.admitted(request.user.pk):
                    report, error = self._run_test(request, form, obj)
            except ratelimit.Refused as refusal:
                if ajax:
                    return JsonResponse(
                        {"form_valid": True, "ok": False, "error": str(refusal)}
                        | {"summary": "", "html": ""},
                        status=429,
                    )
                error = str(refusal)
            if report is not None:
                recorded = self._record_test(request, obj, form, report)
        context = report_context(report, form.cleaned_data) if report else {}
        if ajax:
            # The page's script runs the test without reloading: answer with the
            # report as HTML; an invalid form is shown by a normal submit instead.
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
        if not recorded:
            self.message_user(request, not_recorded_message(), messages.WARNING)
        if error:
            self.message_user(request, error, messages.ERROR)
        elif report:
            self.message_user(
                request, report.summary(), messages.SUCCESS if report.ok else messages.ERROR
            )
        return self._render_form_page(
            request,
            add=add,
            obj=obj,
            form=form,
            object_id=object_id,
            form_url=form_url,
            extra_context={**extra_context, "smtp_test_report": report, **context},
        )

    def has_test_permission(self, request, obj=None) -> bool:
        """Whether the user may test the values in this form.

        A test sends the form's values, which only a user who may save them
        can set: the ``send_test_email`` permission plus change permission
        (add permission on the add page). A view-only user sees no buttons.
        """
        if not request.user.has_perm(f"{self.opts.app_label}.send_test_email"):
            return False
        if obj is None:
            return self.has_add_permission(request)
        return self.has_change_permission(request, obj)

    def _record_test(self, request, obj, form, report: ProbeReport) -> bool:
        """Store the outcome on a saved profile and put the test in the admin history:
        who, when, profile, recipient, outcome. False if the database refused either."""
        recorded = record_outcome(obj, report) if obj is not None else True
        kind = _("Sent a test email") if report.send else _("Checked the connection")
        outcome = (
            _("accepted")
            if report.ok
            else (
                _("failed at “%(step)s”") % {"step": report.failed_step.label}
                if report.failed_step
                else _("failed")
            )
        )
        message = _("%(kind)s to %(recipient)s via %(server)s: %(outcome)s") % {
            "kind": kind,
            "recipient": report.recipient,
            "server": f"{report.host}:{report.port}",
            "outcome": outcome,
        }
        return self._log_history(request, obj, form, message) and recorded

    def _log_history(self, request, obj, form, message: str) -> bool:
        """A history entry for a profile, or for the unsaved one in the form; False if
        the database refused it."""
        try:
            with transaction.atomic():
                if obj is not None:
                    self.log_change(request, obj, message)
                else:
                    LogEntry.objects.create(
                        user_id=request.user.pk,
                        content_type_id=ContentType.objects.get_for_model(SMTPProfile).pk,
                        object_id=None,
                        object_repr=_("%(name)s (not saved)")
                        % {"name": form.cleaned_data.get("name", "") if form.is_valid() else ""},
                        action_flag=CHANGE,
                        change_message=message,
                    )
        except DatabaseError as exc:
            logger.warning("smtpconfig: an admin history entry could not be written: %s", exc)
            return False
        return True

    def construct_change_message(self, request, form, formsets, add=False):
        """The history entry: changed fields by label, the password only as "changed"."""
        if add:
            return [{"added": {}}]
        hidden = {"preset", "preset_region", "password", "clear_password"}
        fields = [
            str(form.fields[name].label or name)
            for name in form.changed_data
            if name not in hidden and name in form.fields
        ]
        if form.cleaned_data.get("password"):
            fields.append(str(_("password changed")))
        if form.cleaned_data.get("clear_password"):
            fields.append(str(_("password cleared")))
        return [{"changed": {"fields": fields}}] if fields else []

    def _run_test(self, request, form, obj) -> tuple[ProbeReport | None, str | None]:
        """Run the test the button asked for: (report, None) or (None, what is wrong)."""
        recipient = request.POST.get(TEST_RECIPIENT_FIELD, "").strip()
        try:
            validate_email(recipient)
        except ValidationError:
            if not recipient:
                return None, _("Enter a valid email address to send the test to.")
            return None, _("“%(address)s” is not a valid email address.") % {"address": recipient}
        try:
            settings = form.probe_settings()
        except SMTPConfigImproperlyConfigured as exc:
            return None, str(exc)
        send = SEND_TEST in request.POST
        return run_test(settings, recipient, send=send), None

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        if obj is not None and obj.last_test_at:
            context.setdefault(
                "smtp_last_test_when", date_filter(obj.last_test_at, "DATETIME_FORMAT")
            )
        return super().render_change_form(request, context, add, change, form_url, obj)

    def save_model(self, request, obj, form, change):
        demoted = (
            self._other_defaults(obj)
            if obj.is_default and "is_default" in form.changed_data
            else []
        )
        super().save_model(request, obj, form, change)
        self._log_demoted(request, demoted, obj)
        if obj.security == Security.NONE and obj.username and obj.allow_plaintext_auth:
            self.message_user(
                request,
                _(
                    "“%(name)s” sends its password unencrypted: anyone on the network path "
                    "can read it."
                )
                % {"name": obj.name},
                messages.WARNING,
            )
        standard = {465: "ssl", 587: "starttls"}
        expected = standard.get(obj.port)
        if expected and expected != obj.security:
            self.message_user(
                request,
                _(
                    "Port %(port)s usually goes with %(mode)s: if the test fails with “wrong "
                    "version number” or a timeout, change the SSL/TLS mode."
                )
                % {
                    "port": obj.port,
                    "mode": dict(SMTPProfile._meta.get_field("security").choices)[expected],
                },
                messages.WARNING,
            )


@admin.register(DeliveryLog)
class DeliveryLogAdmin(admin.ModelAdmin):
    """What the backend sent or could not send: read-only."""

    list_display = [
        "created_at",
        "outcome",
        "profile_name",
        "sender",
        "recipients",
        "subject",
        "duration_column",
    ]
    list_filter = ["outcome", "profile_name", "created_at"]
    search_fields = ["recipients", "subject", "message_id", "sender"]
    date_hierarchy = "created_at"
    readonly_fields = [
        "created_at",
        "outcome",
        "profile",
        "profile_name",
        "tried_column",
        "sender",
        "recipients",
        "subject",
        "message_id",
        "reply",
        "duration",
    ]
    fields = readonly_fields

    @admin.display(description=gettext_lazy("duration"), ordering="duration")
    def duration_column(self, entry: DeliveryLog) -> str:
        return _("%(ms).0f ms") % {"ms": entry.duration * 1000}

    @admin.display(description=gettext_lazy("profiles that failed first"))
    def tried_column(self, entry: DeliveryLog) -> str:
        if not entry.tried:
            return "—"
        return format_html_join(
            "",
            "<p><strong>{}</strong> ({}, {}): {}</p>",
            (
                (item.get("profile"), item.get("server"), item.get("step"), item.get("error"))
                for item in entry.tried
            ),
        )

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        # Rows go by the retention setting (manage.py smtp_prune_log), not by hand.
        return False
