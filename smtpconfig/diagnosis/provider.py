"""A refused login explained by the provider's own rules (its user name, its kind of password).

"Check the user name (usually the full email address)" is wrong advice for a
provider whose user name is a fixed word (SendGrid's ``apikey``) or a
credential of its own (Mailgun's SMTP login, Postmark's server token, Brevo's
SMTP login, Amazon SES's SMTP credentials): the preset table says what each
provider takes, and this module says it back when the login is refused.
"""

from __future__ import annotations

from django.utils.translation import gettext as _

from ..providers.presets import PRESETS, KnownError, Preset, get_preset, preset_for_host
from .base import Diagnosis

#: Username rules that are no literal user name.
_NOT_LITERAL = ("address", "")


def provider_of(settings) -> Preset | None:
    """The provider whose rules apply to this login, if one is known.

    The server's host name says it best (the admin may have moved away from the
    preset the profile was made from); then the preset stored with the profile;
    then a user name that only one provider uses (SendGrid's literal ``apikey``).
    """
    preset = preset_for_host(settings.host)
    if preset is not None:
        return preset
    stored = get_preset(getattr(settings, "provider", "") or "")
    if stored is not None and stored.key != "other":
        return stored
    username = (settings.username or "").strip()
    return next(
        (
            preset
            for preset in PRESETS
            if preset.username_rule not in _NOT_LITERAL and preset.username_rule == username
        ),
        None,
    )


def known_login_error(preset: Preset, reply: str) -> KnownError | None:
    """The provider's known reply about the login (user name or password) this is, if any."""
    return next(
        (
            error
            for error in preset.known_errors
            if error.field in ("username", "password") and error.matches(reply)
        ),
        None,
    )


def login_refused_by(preset: Preset, code: int, reply: str, settings) -> Diagnosis:
    """The server refused the login: what the provider's rule says to check."""
    said = {
        "provider": preset.label,
        "code": code,
        "reply": reply,
        "user": settings.username,
        "rule": preset.username_rule,
        "note": preset.login_note,
    }
    rule = preset.username_rule
    if rule not in _NOT_LITERAL:
        if settings.username != rule:
            return Diagnosis(
                code=f"{preset.key}_auth",
                problem=_(
                    "%(provider)s refused the login (%(code)s %(reply)s): its user name is "
                    "the literal word “%(rule)s”, not “%(user)s”."
                )
                % said,
                fix=_("Set the user name to %(rule)s. %(note)s") % said,
                field="username",
                suggestion=rule,
            )
        return Diagnosis(
            code=f"{preset.key}_auth",
            problem=_(
                "%(provider)s refused the login (%(code)s %(reply)s). The user name “%(rule)s” "
                "is right, so the password was refused."
            )
            % said,
            fix=_("Enter the password %(provider)s asks for. %(note)s") % said,
            field="password",
        )
    known = known_login_error(preset, f"{code} {reply}")
    if known is not None:
        return Diagnosis(
            code=f"{preset.key}_auth",
            problem=str(known.problem),
            fix=str(known.fix),
            field=known.field,
        )
    if rule == "address":
        fix = _(
            "Check the user name (for %(provider)s, the full email address) and type the "
            "password again. %(note)s"
        )
    else:
        fix = _("Check the user name and password against what %(provider)s asks for: %(note)s")
    return Diagnosis(
        code=f"{preset.key}_auth",
        problem=_("%(provider)s did not accept the user name or password (%(code)s %(reply)s).")
        % said,
        fix=(fix % said).strip(),
        field="password",
    )
