"""The admin's profile form: write-only password, preset pre-fill, clear errors."""

from __future__ import annotations

import json

from django import forms
from django.core import signing
from django.db import models
from django.utils.decorators import method_decorator
from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy as _
from django.views.decorators.debug import sensitive_variables

from . import crypto, secret_binding
from .carried_secrets import CARRIER_FIELDS, MAX_AGE, SecretCarrier
from .exceptions import SMTPConfigImproperlyConfigured
from .models import SMTPProfile
from .providers.oauth import OAuthGrant, OAuthProvider
from .providers.presets import (
    OTHER,
    PRESETS,
    Preset,
    get_preset,
    is_preset_host,
    preset_for_host,
)
from .secret_binding import OAUTH_DESTINATION_FIELDS, SecretBoundElsewhere
from .transport.settings import ConnectionSettings, LoginMethod, Security
from .transport.tokens import endpoint_scheme_allowed
from .validators import HeaderSafeValidator, validate_smtp_host

#: The sign-in fields, and those of them that are choices (never blank).
_SIGN_IN_CHOICES = ("auth_method", "oauth_provider", "oauth_grant")
_SIGN_IN_FIELDS = (
    *_SIGN_IN_CHOICES,
    "oauth_tenant",
    "oauth_client_id",
    "oauth_scopes",
    "oauth_token_endpoint",
    "oauth_device_authorization_endpoint",
    "oauth_authorization_endpoint",
)


_OAUTH_ENDPOINTS = (
    "oauth_token_endpoint",
    "oauth_device_authorization_endpoint",
    "oauth_authorization_endpoint",
)


def _formfield(model_field, **kwargs):
    """Form fields as Django makes them, URLs defaulting to https:// (Django 6's default)."""
    if isinstance(model_field, models.URLField):
        kwargs.setdefault("assume_scheme", "https")
    return model_field.formfield(**kwargs)


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


#: How each carried secret's destination is worked out from the form's values.
_CARRIED_DESTINATIONS = {
    "password": secret_binding.destination_of,
    "oauth_client_secret": secret_binding.oauth_destination_of,
}


class CarriedSecretsFormMixin:
    """A password or client secret typed in the form survives the page's round trips.

    The admin gives the form class a :class:`~smtpconfig.carried_secrets.SecretCarrier`
    (bound to the user's session and this form). A page rendered from a post that held a
    typed secret carries it in a hidden field (:attr:`carried_secrets`), sealed to the
    server settings it was typed for; the next post with that box blank uses it, as if
    typed again. Without a carrier (a form made outside the admin) nothing is carried.
    """

    #: Set by the admin on the form class; None: nothing is carried.
    secret_carrier: SecretCarrier | None = None

    def _posted(self, name: str) -> str:
        value = self.data.get(self.add_prefix(name), "") if self.is_bound else ""
        return value if isinstance(value, str) else ""

    def _carried_token(self, name: str) -> str:
        if self.secret_carrier is None:
            return ""
        return self._posted(CARRIER_FIELDS[name])

    def secret_kept(self, name: str) -> bool:
        """Whether this post typed or carried ``name`` (the page says it is kept)."""
        if self.secret_carrier is None:
            return False
        return bool(self._posted(name) or self._carried_token(name))

    def _shown_values(self) -> dict:
        """The destination fields as the page shows them, valid or not (and a preset's
        server where the host was left blank, as clean() fills it in)."""
        values = {name: getattr(self.instance, name, None) for name in OAUTH_DESTINATION_FIELDS}
        for name in OAUTH_DESTINATION_FIELDS:
            if name in self.fields and self.is_bound:
                raw = self.fields[name].widget.value_from_datadict(
                    self.data, self.files, self.add_prefix(name)
                )
                if raw is not None:
                    values[name] = raw
        preset = get_preset(self._posted("preset"))
        if preset and preset.host and not str(values.get("host") or "").strip():
            values.update(
                host=preset.host_for(self._posted("preset_region")),
                port=preset.port,
                security=preset.security,
            )
        return values

    def _cleaned_values(self, cleaned) -> dict:
        values = {name: getattr(self.instance, name, None) for name in OAUTH_DESTINATION_FIELDS}
        values.update((name, cleaned[name]) for name in OAUTH_DESTINATION_FIELDS if name in cleaned)
        return values

    @method_decorator(sensitive_variables("secret"))
    def _open_carried(self, name: str, values: dict) -> str:
        """The carried ``name`` for these values; raises what SecretCarrier.open raises."""
        token = self._carried_token(name)
        if not token:
            return ""
        return self.secret_carrier.open(name, token, _CARRIED_DESTINATIONS[name](values))

    @method_decorator(sensitive_variables("cleaned"))
    def _use_carried(self, cleaned, name: str) -> None:
        """A blank ``name`` takes the carried secret, or the field says why it cannot."""
        if cleaned.get(name) or not self._carried_token(name):
            return
        try:
            cleaned[name] = self._open_carried(name, self._cleaned_values(cleaned))
        except signing.SignatureExpired:
            message = _(
                "The %(field)s you typed is kept for %(minutes)d minutes only: type it again."
            )
            code = "carried_expired"
        except SecretBoundElsewhere:
            message = _(
                "You changed the server settings since you typed the %(field)s: it is only "
                "ever sent to the server it was typed for. Type it again."
            )
            code = "carried_for_other_server"
        except (signing.BadSignature, SMTPConfigImproperlyConfigured):
            message = _("The %(field)s you typed could not be kept: type it again.")
            code = "carried_unreadable"
        else:
            return
        self.add_error(
            name,
            forms.ValidationError(
                message,
                code=code,
                params={"field": str(self.fields[name].label).lower(), "minutes": MAX_AGE // 60},
            ),
        )

    @method_decorator(sensitive_variables("kept", "secret"))
    def secrets_shown(self) -> dict[str, str]:
        """The secrets this post typed, or carried for the values it shows (unvalidated)."""
        kept = {}
        if self.secret_carrier is None:
            return kept
        values = self._shown_values()
        for name in CARRIER_FIELDS:
            secret = self._posted(name)
            if not secret:
                try:
                    secret = self._open_carried(name, values)
                except (signing.BadSignature, SMTPConfigImproperlyConfigured):
                    secret = ""
            if secret:
                kept[name] = secret
        return kept

    @property
    @method_decorator(sensitive_variables("secrets", "secret"))
    def carried_secrets(self) -> list[tuple[str, str]]:
        """(hidden field name, token) for each secret the page must carry to the next post."""
        if self.secret_carrier is None or not self.is_bound:
            return []
        self.errors  # noqa: B018 (a page shown for validation has cleaned its values)
        cleaned = getattr(self, "cleaned_data", None)
        if cleaned is not None:
            values = self._cleaned_values(cleaned)
            secrets = {name: cleaned.get(name) for name in CARRIER_FIELDS}
            if cleaned.get("clear_password"):
                secrets.pop("password")
        else:
            values = self._shown_values()
            secrets = self.secrets_shown()
        carried = []
        for name, secret in secrets.items():
            if secret:
                try:
                    token = self.secret_carrier.seal(
                        name, secret, _CARRIED_DESTINATIONS[name](values)
                    )
                except SMTPConfigImproperlyConfigured:  # no key: the field says so
                    continue
                carried.append((self.add_prefix(CARRIER_FIELDS[name]), token))
        return carried


class SMTPProfileForm(CarriedSecretsFormMixin, StoredPasswordFormMixin, forms.ModelForm):
    """Edits a profile without ever sending the stored password back to the browser.

    A blank password keeps the stored one; "clear the stored password"
    removes it. A provider preset fills in host, port, mode and sign-in
    method (OAuth2 for Microsoft 365 and Outlook.com) in the browser, and on
    the server when the host was left blank, so that it works without
    JavaScript; a sign-in choice the admin changed is kept.
    """

    preset = forms.ChoiceField(
        label=_("Provider"),
        required=False,
        choices=[("", _("— choose to fill in the server settings —"))]
        + [(preset.key, preset.label) for preset in PRESETS],
        help_text=_(
            "Fills in the server, port, SSL/TLS mode and sign-in method of a known provider."
        ),
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
    oauth_client_secret = forms.CharField(
        label=_("Client secret"),
        required=False,
        strip=False,
        widget=forms.PasswordInput(
            render_value=False,
            attrs={
                "autocomplete": "new-password",
                "class": "vTextField",
                # The hint the page's script shows for each kind of OAuth2 sign-in.
                "data-help-client_credentials": _(
                    "App-only access needs the app's client secret (at Microsoft: App "
                    "registrations › your app › Certificates & secrets; note its expiry date). "
                    "Leave blank to keep the stored one; it is never shown."
                ),
                "data-help-refresh_token": _(
                    "The app's client secret, used with the connected account's refresh token "
                    "(web apps at Microsoft and Google have one). Leave blank to keep the "
                    "stored one; it is never shown."
                ),
            },
        ),
        help_text=_(
            "The app's client secret from the provider (needed for app-only access and for "
            "most connected accounts). Leave blank to keep the stored one; it is never shown."
        ),
    )

    class Meta:
        model = SMTPProfile
        formfield_callback = _formfield
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
            "auth_method",
            "oauth_provider",
            "oauth_grant",
            "oauth_tenant",
            "oauth_client_id",
            "oauth_scopes",
            "oauth_token_endpoint",
            "oauth_device_authorization_endpoint",
            "oauth_authorization_endpoint",
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
        # A post that leaves out the sign-in choices (an older page, a script) keeps what
        # the profile has, or the defaults: see _default_sign_in().
        for name in _SIGN_IN_CHOICES:
            if name in self.fields:
                self.fields[name].required = False
        # Checked in clean(), after a preset has had its chance to fill it in.
        if "host" in self.fields:
            self.fields["host"].required = False
        self.fields["password"].help_text = self._password_status()
        kept = _(
            "The %(field)s you typed is kept for this form for %(minutes)d minutes (it is "
            "never shown) and stored when you save."
        )
        for name in CARRIER_FIELDS:
            if name in self.fields and self.secret_kept(name):
                self.fields[name].help_text = kept % {
                    "field": str(self.fields[name].label).lower(),
                    "minutes": MAX_AGE // 60,
                }
        self._show_provider()
        for name in ("verify_certificate", "ca_certificate"):
            if name in self.fields:
                # Without JavaScript both stay on the page (the script hides them for None).
                self.fields[name].help_text = format_lazy(
                    "{} {}",
                    self.fields[name].help_text,
                    _("Not used when the SSL/TLS mode is None."),
                )

    def _show_provider(self) -> None:
        """The provider the profile was made from, and its login note, on every visit
        (a saved profile without one was set up as "Other")."""
        if self.instance.pk is not None:
            self.initial.setdefault("preset", self.instance.provider or OTHER)
        if self.is_bound:
            key = self.data.get(self.add_prefix("preset"), self.initial.get("preset", ""))
        else:
            key = self.initial.get("preset", "")
        preset = get_preset(key or "")
        if preset and preset.login_note:
            self.fields["preset"].help_text = preset.note

    def _default_sign_in(self, cleaned) -> None:
        """Sign-in fields a post left out keep the profile's values (its defaults when new),
        as Django keeps any omitted field with a default; a blank choice is the same."""
        for name in _SIGN_IN_FIELDS:
            if name not in self.fields:
                continue
            omitted = self.fields[name].widget.value_omitted_from_data(
                self.data, self.files, self.add_prefix(name)
            )
            blank_choice = name in _SIGN_IN_CHOICES and not cleaned.get(name)
            if omitted or blank_choice:
                cleaned[name] = getattr(self.instance, name) or (
                    SMTPProfile._meta.get_field(name).get_default()
                )

    def _chosen_by_admin(self, name: str) -> bool:
        """Whether the post changed this field from what the page offered (a preset keeps
        the admin's choice and replaces only what the admin left as it was)."""
        omitted = self.fields[name].widget.value_omitted_from_data(
            self.data, self.files, self.add_prefix(name)
        )
        return not omitted and name in self.changed_data

    @method_decorator(sensitive_variables("data"))  # the post, with any typed password
    def _show_filled(self, filled: dict) -> None:
        """Put what a preset filled in into the posted data too, so that a page shown
        again (an error elsewhere, such as OAuth2's missing client id) shows the preset's
        values: the round trip that fills the form without JavaScript."""
        data = self.data.copy()
        for name, value in filled.items():
            data[self.add_prefix(name)] = str(value)
        self.data = data

    @method_decorator(sensitive_variables("cleaned"))
    def clean(self):
        cleaned = super().clean()
        self._default_sign_in(cleaned)
        self._apply_preset(cleaned)
        if not cleaned.get("clear_password") and cleaned.get("auth_method") in (
            None,
            LoginMethod.PASSWORD,
        ):
            self._use_carried(cleaned, "password")
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
        elif not cleaned.get("clear_password") and cleaned.get("auth_method") in (
            None,
            LoginMethod.PASSWORD,
        ):
            self._check_stored_password_destination(cleaned)
        if cleaned.get("auth_method") == LoginMethod.OAUTH2:
            self._clean_oauth(cleaned)
        return cleaned

    def _apply_preset(self, cleaned) -> None:
        """Fill in the chosen preset's server when the host is blank, or when it is another
        preset's server (a preset filled it: the choice changed without JavaScript).

        A user name the previous preset filled in (SendGrid's ``apikey``, or the sender
        address) takes the new preset's value, or is emptied; one the admin typed is kept.
        """
        preset = get_preset(cleaned.get("preset") or "")
        if not (preset and preset.host):
            return
        host = cleaned.get("host") or ""
        own_hosts = {preset.host, *(region for _label, region in preset.regions)}
        if host and (host.lower().rstrip(".") in own_hosts or not is_preset_host(host)):
            return
        filled = {
            "host": preset.host_for(cleaned.get("preset_region") or ""),
            "port": preset.port,
            "security": preset.security,
        }
        username = cleaned.get("username") or ""
        previous = preset_for_host(host) if host else None
        if not username or (previous and username == self._username_for(previous, cleaned)):
            filled["username"] = self._username_for(preset, cleaned)
        filled.update(
            (name, value)
            for name, value in preset.sign_in().items()
            if name in self.fields and not self._chosen_by_admin(name)
        )
        cleaned.update(filled)
        self._show_filled(filled)

    @staticmethod
    def _username_for(preset: Preset, cleaned) -> str:
        """The user name ``preset`` fills in: the sender address, a literal, or nothing."""
        if preset.username_rule == "address":
            return cleaned.get("from_email") or ""
        return preset.username_rule

    def _clean_oauth(self, cleaned) -> None:
        """What OAuth2 sign-in needs, and stored secrets only for their own destination."""
        if not cleaned.get("username"):
            self.add_error(
                "username",
                forms.ValidationError(
                    _("With OAuth2, enter the mailbox the mail is sent as."), code="required"
                ),
            )
        if not cleaned.get("oauth_client_id"):
            self.add_error(
                "oauth_client_id",
                forms.ValidationError(_("Enter the app's client id."), code="required"),
            )
        if cleaned.get("oauth_provider") == OAuthProvider.CUSTOM and not cleaned.get(
            "oauth_token_endpoint"
        ):
            self.add_error(
                "oauth_token_endpoint",
                forms.ValidationError(
                    _("Enter the token endpoint of this provider."), code="required"
                ),
            )
        for name in _OAUTH_ENDPOINTS:
            url = cleaned.get(name)
            if url and not endpoint_scheme_allowed(url):
                self.add_error(
                    name,
                    forms.ValidationError(
                        _("Use an https:// address: client secrets and tokens are sent to it."),
                        code="https_required",
                    ),
                )
        app_only = cleaned.get("oauth_grant") == OAuthGrant.CLIENT_CREDENTIALS
        if (
            app_only
            and cleaned.get("oauth_provider") == OAuthProvider.MICROSOFT
            and (cleaned.get("oauth_tenant") or "").strip().lower()
            in ("", "organizations", "consumers", "common")
        ):
            self.add_error(
                "oauth_tenant",
                forms.ValidationError(
                    _("App-only access needs your tenant id or domain, such as contoso.com."),
                    code="tenant_required",
                ),
            )
        self._use_carried(cleaned, "oauth_client_secret")
        if cleaned.get("oauth_client_secret") or "oauth_client_secret" in self.errors:
            return
        instance = self.instance
        stored = instance.pk is not None and bool(instance.oauth_client_secret_encrypted)
        if app_only and not stored:
            self.add_error(
                "oauth_client_secret",
                forms.ValidationError(
                    _("App-only access needs the client secret."), code="required"
                ),
            )
        elif stored:
            values = {name: getattr(instance, name, None) for name in OAUTH_DESTINATION_FIELDS}
            if secret_binding.oauth_destination_of(
                {**values, **{k: cleaned.get(k) for k in OAUTH_DESTINATION_FIELDS if k in cleaned}}
            ) != secret_binding.oauth_destination_of(values):
                self.add_error(
                    "oauth_client_secret",
                    forms.ValidationError(
                        _(
                            "You changed where the OAuth2 secrets would go (the server or the "
                            "token endpoint). Type the client secret again; the account must "
                            "be connected again too."
                        ),
                        code="oauth_for_other_destination",
                    ),
                )

    def save(self, commit: bool = True) -> SMTPProfile:
        profile = super().save(commit=False)
        if "preset" in self.fields and not self.fields["preset"].widget.value_omitted_from_data(
            self.data, self.files, self.add_prefix("preset")
        ):
            key = self.cleaned_data.get("preset") or ""
            profile.provider = "" if key == OTHER else key
        if self.cleaned_data.get("clear_password"):
            profile.password = ""
        elif self.cleaned_data.get("password"):
            # Sealed to the server settings the profile is saved with.
            profile.password = self.cleaned_data["password"]
        if self.cleaned_data.get("oauth_client_secret"):
            profile.oauth_client_secret = self.cleaned_data["oauth_client_secret"]
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
        if data.get("auth_method") == LoginMethod.OAUTH2:
            # The instance holds the form's values now, and its secrets open only for them.
            if data.get("oauth_client_secret"):
                self.instance.oauth_client_secret = data["oauth_client_secret"]
            return ConnectionSettings.from_profile(self.instance)
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
            login_method=data.get("auth_method") or LoginMethod.PASSWORD,
            provider=data.get("provider") or data.get("preset") or "",
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
