"""Validators for values that end up in SMTP commands or message headers."""

from __future__ import annotations

import ipaddress
import re
import ssl

from django.core.exceptions import ValidationError
from django.utils.deconstruct import deconstructible
from django.utils.translation import gettext_lazy as _

# Any C0 control character (CR and LF among them), DEL and the C1 controls.
_CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f-\x9f]")
# One DNS label: letters (any script, for internationalised names), digits, hyphens.
_HOST_LABEL = re.compile(r"^(?!-)[\w-]{1,63}(?<!-)$", re.UNICODE)


@deconstructible
class HeaderSafeValidator:
    """Refuse control characters (CR and LF above all) in a header-bound value.

    A CR or LF in a display name, sender or reply-to could inject headers.
    """

    message = _("This value must be on one line, without control characters.")
    code = "control_characters"

    def __call__(self, value: str) -> None:
        if value and _CONTROL_CHARACTERS.search(str(value)):
            raise ValidationError(self.message, code=self.code)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, HeaderSafeValidator)


def validate_smtp_host(value: str) -> None:
    """Accept a host name (internationalised too), an IPv4 or an IPv6 address.

    The errors say what to change: a URL, a ``host:port`` or spaces are the
    usual mistakes when a value is pasted from a provider's help page.
    """
    if _CONTROL_CHARACTERS.search(value) or any(ch.isspace() for ch in value):
        raise ValidationError(
            _("The server name cannot contain spaces or control characters."),
            code="host_whitespace",
        )
    if "://" in value or "/" in value:
        raise ValidationError(
            _(
                "Enter only the server's name, such as smtp.example.com, "
                "without a scheme like smtp:// or a path."
            ),
            code="host_url",
        )
    candidate = value[1:-1] if value.startswith("[") and value.endswith("]") else value
    try:
        ipaddress.ip_address(candidate)
        return
    except ValueError:
        pass
    if value.count(":") == 1:
        raise ValidationError(
            _("Enter the port in the Port field, not after the server name."),
            code="host_port",
        )
    name = value[:-1] if value.endswith(".") else value
    if (
        not name
        or len(name) > 253
        or not all(_HOST_LABEL.match(label) for label in name.split("."))
    ):
        raise ValidationError(
            _("“%(value)s” is not a valid server name or IP address."),
            code="host_invalid",
            params={"value": value},
        )
    if "_" in name:
        raise ValidationError(
            _("A server name cannot contain an underscore."), code="host_invalid_character"
        )


def validate_pem_certificates(value: str) -> None:
    """Accept one or more PEM certificates that Python's ssl module can load."""
    if not value.strip():
        return
    if "\x00" in value:
        raise ValidationError(_("This is not a valid PEM certificate."), code="pem_invalid")
    if "-----BEGIN CERTIFICATE-----" not in value:
        raise ValidationError(
            _("Paste the certificate in PEM form, starting with -----BEGIN CERTIFICATE-----."),
            code="pem_missing",
        )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    try:
        context.load_verify_locations(cadata=value)
    except (ssl.SSLError, ValueError, TypeError):
        # TypeError: ssl refuses text with non-ASCII characters (a pasted BOM or no-break space).
        raise ValidationError(
            _("This is not a valid PEM certificate."), code="pem_invalid"
        ) from None


def split_domains(text: str) -> list[str]:
    """Domains from a list separated by spaces or commas, lower case, without duplicates."""
    return list(
        dict.fromkeys(
            part.strip().lower().rstrip(".")
            for part in re.split(r"[\s,;]+", text or "")
            if part.strip()
        )
    )


def validate_domain_list(value: str) -> None:
    """Accept domains separated by spaces or commas, such as ``example.com, example.org``."""
    for domain in split_domains(value):
        if "@" in domain:
            raise ValidationError(
                _("Enter domains only (example.com), not addresses like “%(value)s”."),
                code="domain_address",
                params={"value": domain},
            )
        try:
            validate_smtp_host(domain)
        except ValidationError:
            raise ValidationError(
                _("“%(value)s” is not a valid domain."),
                code="domain_invalid",
                params={"value": domain},
            ) from None
