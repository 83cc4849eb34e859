"""The admin's profile form: write-only password, preset pre-fill, clear errors."""

from __future__ import annotations

import json

from django import forms
from django.utils.decorators import method_decorator
from django.utils.translation import gettext_lazy as _
from django.views.decorators.debug import sensitive_variables

from . import crypto, secret_binding
from .exceptions import SMTPConfigImproperlyConfigured
from .models import SMTPProfile
from .providers.presets import PRESETS, get_preset
from .transport.settings import ConnectionSettings, Security
from .validators import HeaderSafeValidator, validate_smtp_host


def _destination(profile: SMTPProfile) -> dict:
    return {name: getattr(profile, name) for name in secret_binding.DESTINATION_FIELDS}


class SenderInput(forms.EmailInput):
    """The sender address, with a "Detect settings" button beside it."""

    template_name = "smtpconfig/widgets/sender_input.html"
    #: Where "Detect settings" posts (the admin sets it; blank: the form's own URL).
    detect_url = ""

    def __init__(self, attrs=None):
        super().__init__(attrs={"class": "vTextField", **(attrs or {})})

    def get_context(self, name, value, attrs):
        context = super().get_context(name, value, attrs)
        context["widget"]["detect_url"] = self.detect_url
        return context


class StoredPasswordFormMixin:
    """What the profile form says and checks about the stored password (never its value)."""

    def _password_status(self) -> str:
        instance = self.instance
        if instance.pk is None or not instance.has_password:
            return str(_("No password is stored. Leave blank if the server needs no login."))
        if instance.password_unreadable:
            return str(
                _(
                    "The stored password cannot be decrypted with the configured encryption "
                    "key (the key was changed or lost). Type the password again."
                )
            )
        if instance.password_bound_elsewhere:
            return str(
                _(
                    "The stored password was entered for other server settings and is not "
                    "used with these. Type it again."
                )
            )
        return str(
            _(
                "A password is stored. Leave blank to keep it; it is never shown, and only "
                "sent to this server."
            )
        )

    def _check_stored_password_destination(self, cleaned) -> None:
        """A stored password goes only to the server it was entered for.

        Changing the server, port, mode, plaintext permission or certificate
        settings while keeping the stored password would send it to wherever
        the form now points (a test, or the next mail after saving): it must
        be typed again, or cleared.
        """
        instance = self.instance
        if instance.pk is None or not instance.has_password:
            return
        changed = [
            name
            for name in secret_binding.DESTINATION_FIELDS
            if name in self.fields
            and name in cleaned
            # clean() runs before the instance takes the form's values.
            and secret_binding.destination_of({**_destination(instance), name: cleaned[name]})
            != secret_binding.destination_of(_destination(instance))
        ]
        if not changed:
            return
        labels = ", ".join(str(self.fields[name].label) for name in changed)
        self.add_error(
            "password",
            forms.ValidationError(
                _(
                    "You changed %(fields)s. The stored password is only ever sent to the "
                    "server it was entered for: type it again to use it with these settings, "
                    "or tick “clear the stored password”."
                ),
                code="password_for_other_server",
                params={"fields": labels},
            ),
        )


class SMTPProfileForm(StoredPasswordFormMixin, forms.ModelForm):
    """Edits a profile without ever sending the stored password back to the browser.

    A blank password keeps the stored one; "clear the stored password"
    removes it. A provider preset fills in host, port and mode (in the
    browser, and on the server when the host was left blank, so that it
    works without JavaScript).
    """

    preset = forms.ChoiceField(
        label=_("Provider"),
        required=False,
        choices=[("", _("— choose to fill in the server settings —"))]
        + [(preset.key, preset.label) for preset in PRESETS],
        help_text=_("Fills in the server, port and SSL/TLS mode of a known provider."),
    )
    preset_region = forms.ChoiceField(
        label=_("Region"),
        required=False,
        choices=[("", _("— the provider's default —"))]
        + [
            (str(preset.label), [(host, f"{label} ({host})") for label, host in preset.regions])
            for preset in PRESETS
            if preset.regions
        ],
        help_text=_("For providers with servers in several regions (Zoho, Mailgun, Amazon SES)."),
    )
    password = forms.CharField(
        label=_("Password"),
        required=False,
        strip=False,
        widget=forms.PasswordInput(
            render_value=False, attrs={"autocomplete": "new-password", "class": "vTextField"}
        ),
    )
    clear_password = forms.BooleanField(
        label=_("Clear the stored password"),
        required=False,
        help_text=_("Tick to remove the stored password when you save."),
    )

    class Meta:
        model = SMTPProfile
        fields = [
            "name",
            "host",
            "port",
            "security",
            "username",
            "from_name",
            "from_email",
            "reply_to",
            "timeout",
            "verify_certificate",
            "allow_plaintext_auth",
            "ca_certificate",
            "test_recipient",
            "enabled",
            "is_default",
            "priority",
            "sender_domains",
        ]
        widgets = {
            "from_email": SenderInput(),
            "username": forms.TextInput(attrs={"autocomplete": "off", "class": "vTextField"}),
            "ca_certificate": forms.Textarea(attrs={"rows": 4, "class": "vLargeTextField"}),
        }

    #: Where the sender field's "Detect settings" button posts (set by the admin).
    detect_url = ""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if isinstance(
            self.fields.get("from_email", None) and self.fields["from_email"].widget, SenderInput
        ):
            self.fields["from_email"].widget.detect_url = self.detect_url
        # Checked in clean(), after a preset has had its chance to fill it in.
        if "host" in self.fields:
            self.fields["host"].required = False
        self.fields["password"].help_text = self._password_status()
        preset = get_preset(self.data.get(self.add_prefix("preset"), "") if self.is_bound else "")
        if preset and preset.login_note:
            self.fields["preset"].help_text = preset.login_note

    @method_decorator(sensitive_variables("cleaned"))
    def clean(self):
        cleaned = super().clean()
        preset = get_preset(cleaned.get("preset") or "")
        if preset and preset.host and not cleaned.get("host"):
            cleaned["host"] = preset.host_for(cleaned.get("preset_region") or "")
            cleaned["port"] = preset.port
            cleaned["security"] = preset.security
            if not cleaned.get("username"):
                if preset.username_rule == "address":
                    cleaned["username"] = cleaned.get("from_email", "")
                elif preset.username_rule:
                    cleaned["username"] = preset.username_rule
        if not cleaned.get("host") and "host" not in self.errors:
            self.add_error(
                "host",
                forms.ValidationError(
                    _("Enter the SMTP server, or choose a provider."), code="required"
                ),
            )
        if cleaned.get("password") and cleaned.get("clear_password"):
            # On the password, which is always shown (the tick box is not, without one stored).
            self.add_error(
                "password",
                forms.ValidationError(
                    _("Either type a new password or clear the stored one, not both."),
                    code="password_conflict",
                ),
            )
        elif cleaned.get("password"):
            try:
                crypto.encrypt("")  # a missing or broken key is the password's error
            except SMTPConfigImproperlyConfigured as exc:
                self.add_error("password", forms.ValidationError(str(exc), code="no_key"))
        elif not cleaned.get("clear_password"):
            self._check_stored_password_destination(cleaned)
        return cleaned

    def save(self, commit: bool = True) -> SMTPProfile:
        profile = super().save(commit=False)
        if self.cleaned_data.get("clear_password"):
            profile.password = ""
        elif self.cleaned_data.get("password"):
            # Sealed to the server settings the profile is saved with.
            profile.password = self.cleaned_data["password"]
        if commit:
            profile.save()
            self._save_m2m()
        return profile

    @method_decorator(sensitive_variables("data", "password"))
    def connection_settings(self) -> ConnectionSettings:
        """The values in this (valid) form as the transport takes them, saved or not.

        A blank password means the stored one; reading it may raise
        :class:`~smtpconfig.exceptions.SecretUnreadable`.
        """
        data = self.cleaned_data
        if data.get("password"):
            password = data["password"]
        elif data.get("clear_password") or self.instance.pk is None:
            password = ""
        else:
            # The instance holds the form's values now: the stored password opens only
            # if they are still the server settings it was entered for.
            password = self.instance.readable_password()
        return ConnectionSettings(
            host=data["host"],
            port=data["port"],
            security=data["security"],
            username=data.get("username", ""),
            password=password,
            timeout=data["timeout"],
            verify_certificate=data.get("verify_certificate", True),
            ca_certificate=data.get("ca_certificate", ""),
            from_email=data["from_email"],
            from_name=data.get("from_name", ""),
            reply_to=data.get("reply_to", ""),
            profile_name=data.get("name", ""),
            allow_plaintext_auth=data.get("allow_plaintext_auth", False),
        )

    #: The name the admin's test used before the transport had one settings value.
    probe_settings = connection_settings


class CandidateSettingsForm(forms.Form):
    """A candidate's settings posted back by "Use these settings" (without JavaScript).

    The values come from the page, so they are validated like the profile's
    own fields: a forged, truncated or absurd candidate is refused.
    """

    host = forms.CharField(max_length=255, validators=[validate_smtp_host])
    port = forms.IntegerField(min_value=1, max_value=65535)
    security = forms.ChoiceField(choices=Security.choices)
    username = forms.CharField(max_length=254, required=False, validators=[HeaderSafeValidator()])
    preset = forms.CharField(max_length=50, required=False)

    @classmethod
    def from_json(cls, text: str) -> CandidateSettingsForm:
        """The form bound to a candidate's JSON (unreadable JSON binds nothing: invalid)."""
        try:
            data = json.loads(text)
        except (ValueError, RecursionError):
            data = None
        if not isinstance(data, dict):
            data = {}
        return cls(data={key: _as_text(value) for key, value in data.items()})

    def clean_username(self) -> str:
        username = self.cleaned_data["username"]
        try:
            username.encode("utf-8")  # a JSON-escaped lone surrogate cannot be
        except UnicodeEncodeError:
            raise forms.ValidationError(_("Enter a valid user name."), code="invalid") from None
        return username

    def clean_preset(self) -> str:
        preset = self.cleaned_data["preset"]
        return preset if get_preset(preset) else ""


def _as_text(value) -> str:
    """A JSON value as a form would have received it: numbers and text only."""
    if isinstance(value, bool) or not isinstance(value, str | int):
        return ""
    return str(value)
