"""The admin for SMTP profiles: the list, the grouped form, and its views' URLs."""

from __future__ import annotations

from django.contrib import admin, messages
from django.contrib.admin.utils import quote, unquote
from django.core.exceptions import ValidationError
from django.db import models
from django.template.defaultfilters import date as date_filter
from django.urls import path, reverse
from django.utils.decorators import method_decorator
from django.utils.html import format_html
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.debug import sensitive_post_parameters

from ..carried_secrets import SecretCarrier
from ..forms import SMTPProfileForm
from ..models import STANDARD_PORTS, Security, SMTPProfile
from ..providers.oauth import OAuthGrant
from ..providers.presets import PRESETS
from ..providers.readiness import profiles_to_switch
from ..transport.settings import LoginMethod
from .actions import ProfileActions
from .banners import delivery_log_url, failing_banner, profile_banners
from .columns import ProfileChangeList, ProfileColumns
from .device_views import DeviceCodePollView, DeviceCodeView, device_code_url
from .filters import LastTestFilter, ProviderFilter
from .first_run import first_run
from .health import mail_failing_now, sending_health
from .history import ProfileHistory
from .oauth_views import ConnectAccountView, OAuthCallbackView, redirect_uri
from .queue_status import counts_html, outbox_counts, worker_banner
from .test_state import TestedSettings
from .views import (
    CHECK_CONNECTION,
    FORM_DATA_ATTRIBUTE,
    SEND_TEST,
    TEST_RECIPIENT_FIELD,
    DetectSettingsView,
    ProfileTestView,
    SwitchToOAuthView,
    UseSettingsView,
    bind_form_class,
)


def _without(fieldsets, field_name: str) -> list:
    """``fieldsets`` without ``field_name``."""
    return [
        (name, {**options, "fields": [f for f in options["fields"] if f != field_name]})
        for name, options in fieldsets
    ]


@admin.register(SMTPProfile)
class SMTPProfileAdmin(
    ProfileColumns, ProfileActions, ProfileHistory, TestedSettings, admin.ModelAdmin
):
    form = SMTPProfileForm
    # Token endpoints are https:// (Django 6's default scheme; 5.2 warns without it).
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}
    save_on_top = True  # so that Enter in a field saves rather than sends a test
    list_display = [
        "name",
        "is_default",
        "enabled",
        "last_test_column",
        "sending_column",
        "priority",
        "server_column",
        "security_column",
        "sender_column",
    ]
    list_display_links = ["name"]
    list_editable = ["priority"]  # the failover order, set in the list
    list_filter = ["enabled", "is_default", LastTestFilter, ProviderFilter]
    search_fields = ["name", "host", "from_email", "username"]
    readonly_fields = [
        "oauth_account",
        "created_at",
        "updated_at",
        "last_test_column",
        "last_test_details",
        "sender_domain_health",
    ]
    actions = ["make_default", "enable", "disable"]

    fieldsets = (
        (None, {"fields": ["name"]}),
        (
            gettext_lazy("Server"),
            {"fields": ["preset", "preset_region", "host", "port", "security"]},
        ),
        # Sign-in: one fieldset per method, so that without JavaScript each heading says
        # which method its fields belong to; with it, profile_form.js shows only the chosen
        # method's (found by these classes).
        (
            gettext_lazy("Authentication"),
            {"fields": ["auth_method", "username"]},
        ),
        (
            gettext_lazy("Password sign-in"),
            {
                "classes": ["smtpconfig-sign-in", "smtpconfig-for-password"],
                "description": gettext_lazy("Used when the sign-in is “Password”."),
                "fields": ["password", "clear_password"],
            },
        ),
        (
            gettext_lazy("OAuth2 sign-in"),
            {
                "classes": ["smtpconfig-sign-in", "smtpconfig-for-oauth2"],
                "description": gettext_lazy(
                    "Used when the sign-in is “OAuth2”. The tenant is for Microsoft only."
                ),
                "fields": [
                    "oauth_provider",
                    "oauth_grant",
                    "oauth_tenant",
                    "oauth_client_id",
                    "oauth_client_secret",
                    "oauth_scopes",
                    "oauth_account",
                ],
            },
        ),
        (
            gettext_lazy("OAuth2 endpoints of another provider"),
            {
                "classes": ["smtpconfig-sign-in", "smtpconfig-for-custom"],
                "description": gettext_lazy(
                    "Used only when the sign-in is “OAuth2” and the provider is “Other (its own "
                    "endpoints)”."
                ),
                "fields": [
                    "oauth_token_endpoint",
                    "oauth_authorization_endpoint",
                    "oauth_device_authorization_endpoint",
                ],
            },
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
                    # test_recipient: the test panel's "Send the test to" (one box, saved).
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

    # URLs: the page's own views beside Django's.

    #: Each view of the page, by its URL name's suffix.
    page_views = {
        "test": ProfileTestView,
        "detect": DetectSettingsView,
        "use_settings": UseSettingsView,
    }

    def get_urls(self):
        prefix = f"{self.opts.app_label}_{self.opts.model_name}"
        urls = []
        for suffix, view_class in self.page_views.items():
            view = self.admin_site.admin_view(view_class(self))
            slug = suffix.replace("_", "-")
            urls += [
                path(f"add/{slug}/", view, name=f"{prefix}_add_{suffix}"),
                path(f"<path:object_id>/{slug}/", view, name=f"{prefix}_{suffix}"),
            ]
        urls += [
            path(
                "<path:object_id>/switch-to-oauth2/",
                self.admin_site.admin_view(SwitchToOAuthView(self)),
                name=f"{prefix}_switch_oauth2",
            ),
            path(
                "<path:object_id>/oauth-connect/",
                self.admin_site.admin_view(ConnectAccountView(self)),
                name=f"{prefix}_oauth_connect",
            ),
            path(
                "<path:object_id>/oauth-device/",
                self.admin_site.admin_view(DeviceCodeView(self)),
                name=f"{prefix}_oauth_device",
            ),
            path(
                "<path:object_id>/oauth-device/poll/",
                self.admin_site.admin_view(DeviceCodePollView(self)),
                name=f"{prefix}_oauth_device_poll",
            ),
            path(
                "oauth-callback/",
                self.admin_site.admin_view(OAuthCallbackView(self)),
                name=f"{prefix}_oauth_callback",
            ),
        ]
        return urls + super().get_urls()

    def page_url(self, object_id=None) -> str:
        """The add page, or the profile's change page."""
        prefix = f"{self.admin_site.name}:{self.opts.app_label}_{self.opts.model_name}"
        if object_id is None:
            return reverse(f"{prefix}_add")
        return reverse(f"{prefix}_change", args=[quote(unquote(str(object_id)))])

    def view_url(self, suffix: str, object_id=None) -> str:
        """The URL of one of the page's views, for the add page or a profile."""
        prefix = f"{self.admin_site.name}:{self.opts.app_label}_{self.opts.model_name}"
        if object_id is None:
            return reverse(f"{prefix}_add_{suffix}")
        return reverse(f"{prefix}_{suffix}", args=[quote(unquote(str(object_id)))])

    # The form.

    def get_object(self, request, object_id, from_field=None):
        """The profile, fetched once per request: the banners, the test panel and
        Django's change view all ask for it before the form touches it."""
        fetched = request.__dict__.setdefault("_smtpconfig_objects", {})
        key = (object_id, from_field)
        if key not in fetched:
            fetched[key] = super().get_object(request, object_id, from_field)
        return fetched[key]

    def get_form(self, request, obj=None, change=False, **kwargs):
        form_class = super().get_form(request, obj, change, **kwargs)
        form_class.detect_url = self.view_url("detect", obj.pk if obj else None)
        # A typed secret survives the page's round trips in this session, for this form.
        form_class.secret_carrier = SecretCarrier(
            request.session, f"{self.opts.label_lower}:{obj.pk if obj else 'add'}"
        )
        bound = getattr(request, FORM_DATA_ATTRIBUTE, None)
        if bound is not None:  # a page view shows the posted values again
            data, files, validate = bound
            form_class = bind_form_class(form_class, data, files, validate=validate)
        return form_class

    def get_fieldsets(self, request, obj=None):
        fieldsets = super().get_fieldsets(request, obj)
        if obj is None:  # nothing to show under History, nor a saved domain, yet
            fieldsets = [fs for fs in fieldsets if "created_at" not in fs[1]["fields"]]
            fieldsets = _without(fieldsets, "sender_domain_health")
        if obj is None or not obj.has_password:  # nothing to clear
            fieldsets = _without(fieldsets, "clear_password")
        return fieldsets

    def get_changelist(self, request, **kwargs):
        return ProfileChangeList

    def changelist_view(self, request, extra_context=None):
        profiles = list(SMTPProfile.objects.all())
        if request.method == "GET":
            self.status_banners(request, profiles)
            self._readiness_banners(request, profiles)
        extra_context = {
            "smtp_first_run": first_run(request, profiles),
            "smtp_outbox_counts": counts_html(
                outbox_counts(request), request, self.admin_site.name
            ),
            **(extra_context or {}),
        }
        return super().changelist_view(request, extra_context)

    def status_banners(self, request, profiles) -> None:
        """The site's mail failing now, messages waiting for a worker, then the profiles'
        own warnings."""
        failing = mail_failing_now()
        if failing is not None:
            level, text = failing_banner(failing, delivery_log_url(request, self.admin_site.name))
            self.message_user(request, text, level)
        stale = worker_banner(request, self.admin_site.name)
        if stale is not None:
            self.message_user(request, stale[1], stale[0])
        if not profiles:  # the first-run guide says it, and what to do
            return
        health = sending_health([p for p in profiles if p.is_default])
        for level, text in profile_banners(profiles, health=health):
            self.message_user(request, text, level)

    def _readiness_banners(self, request, profiles) -> None:
        """Profiles that sign in with a password where Microsoft is switching it off."""
        for profile, why in profiles_to_switch(profiles):
            link = ""
            if self.has_change_permission(request, profile):
                link = format_html(
                    ' <a class="button" href="{}">{}</a>',
                    self.view_url("switch_oauth2", profile.pk),
                    _("Switch to OAuth2"),
                )
            self.message_user(request, format_html("{}{}", why, link), messages.WARNING)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        if request.method == "GET" and not hasattr(request, FORM_DATA_ATTRIBUTE):
            profile = self.get_object(request, unquote(object_id))
            if profile is not None:
                for level, text in profile_banners([profile], single=True):
                    self.message_user(request, text, level)
                self._readiness_banners(request, [profile])
        return super().change_view(request, object_id, form_url, extra_context)

    @method_decorator(sensitive_post_parameters("password"))
    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        if request.method == "POST":
            # A button posted to the page itself (an older page, or a client without
            # formaction support) goes to its view.
            for view_class in self.page_views.values():
                if any(button in request.POST for button in view_class.buttons):
                    return view_class(self)(request, object_id)
        extra_context = {**self.page_context(request, object_id), **(extra_context or {})}
        return super().changeform_view(request, object_id, form_url, extra_context)

    def page_context(self, request, object_id) -> dict:
        """The test panel and the presets, for the change form template."""
        profile = self.get_object(request, unquote(object_id)) if object_id else None
        recipient = request.POST.get(TEST_RECIPIENT_FIELD)
        if recipient is None:
            recipient = (profile.test_recipient if profile else "") or request.user.email
        oauth = None
        if profile is not None and profile.auth_method == LoginMethod.OAUTH2:
            oauth = {
                "redirect_uri": redirect_uri(self, request),
                "connect_url": self.view_url("oauth_connect", profile.pk),
                # "Connect with a code" where the provider has a device endpoint.
                "device_url": (
                    self.view_url("oauth_device", profile.pk) if device_code_url(profile) else ""
                ),
                "connected_as": profile.oauth_account,
                "connected_at": profile.oauth_connected_at,
                "app_only": profile.oauth_grant == OAuthGrant.CLIENT_CREDENTIALS,
                "can_connect": self.has_change_permission(request, profile),
            }
        return {
            "smtp_oauth": oauth,
            "smtp_can_test": self.has_test_permission(request, profile),
            "smtp_presets": [preset.as_dict() for preset in PRESETS],
            "smtp_test_to": recipient,
            "smtp_test_url": self.view_url("test", object_id),
            "smtp_test_recipient_field": TEST_RECIPIENT_FIELD,
            "smtp_send_test": SEND_TEST,
            "smtp_check_connection": CHECK_CONNECTION,
        }

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

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        if obj is not None and obj.last_test_at:
            context.setdefault(
                "smtp_last_test_when", date_filter(obj.last_test_at, "DATETIME_FORMAT")
            )
        return super().render_change_form(request, context, add, change, form_url, obj)

    def keep_test_recipient(self, request, obj) -> None:
        """The test panel's "Send the test to" becomes the profile's test recipient when
        the profile is saved: one box for both jobs (no separate field under Options)."""
        if TEST_RECIPIENT_FIELD not in request.POST:  # no test panel on the page
            return
        recipient = request.POST[TEST_RECIPIENT_FIELD].strip()
        try:
            obj._meta.get_field("test_recipient").clean(recipient, obj)
        except ValidationError:
            self.message_user(
                request,
                _("“%(address)s” is not a valid email address: the test recipient is unchanged.")
                % {"address": recipient},
                messages.WARNING,
            )
            return
        obj.test_recipient = recipient

    def save_model(self, request, obj, form, change):
        demoted = []
        if obj.is_default and "is_default" in form.changed_data:
            demoted = self.other_defaults(obj)
        self.keep_test_recipient(request, obj)
        super().save_model(request, obj, form, change)
        self.log_demoted(request, demoted, obj)
        self.apply_kept_test(request, obj, added=not change)
        # Warn where the site's mail may now depend on settings not known to work.
        became = (obj.is_default and "is_default" in form.changed_data) or (
            obj.enabled and (not change or "enabled" in form.changed_data)
        )
        if obj.enabled and (became or obj.last_test_ok is False):
            self.warn_untested(request, obj)
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
        expected = {port: mode for mode, port in STANDARD_PORTS.items()}.get(obj.port)
        if expected and expected != obj.security:
            self.message_user(
                request,
                _(
                    "Port %(port)s usually goes with %(mode)s: if the test fails with “wrong "
                    "version number” or a timeout, change the SSL/TLS mode."
                )
                % {"port": obj.port, "mode": Security(expected).label},
                messages.WARNING,
            )
