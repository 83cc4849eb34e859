"""Which addresses tests and the backend may connect to.

An admin page that connects wherever it is told is a way into the server's
own network: a cloud instance's metadata service (169.254.169.254) hands out
credentials to whoever asks. Link-local addresses are refused by default;
``SMTPCONFIG["BLOCKED_NETWORKS"]`` narrows or widens the list and
``SMTPCONFIG["ALLOWED_HOSTS"]`` names hosts (or addresses) exempt from it.
The check runs on the address actually connected to, after DNS, so a host
name that resolves to a blocked address is caught too.
"""

from __future__ import annotations

import functools
import ipaddress

from django.utils.translation import gettext as _

from .conf import get_setting
from .exceptions import SMTPConfigImproperlyConfigured


class BlockedAddress(ConnectionRefusedError):
    """The address is in a blocked network; nothing was sent to it."""


@functools.lru_cache(maxsize=16)
def _networks(entries: tuple[str, ...]) -> tuple:
    networks = []
    for entry in entries:
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            raise SMTPConfigImproperlyConfigured(
                f"SMTPCONFIG['BLOCKED_NETWORKS'] entry {entry!r} is not a network "
                "such as 169.254.0.0/16."
            ) from None
    return tuple(networks)


def check_address(host: str, address: str) -> None:
    """Raise :class:`BlockedAddress` if connecting to ``address`` (for ``host``) is refused."""
    allowed = {str(name).lower().rstrip(".") for name in get_setting("ALLOWED_HOSTS")}
    if host.lower().rstrip(".") in allowed or address in allowed:
        return
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return
    if ip.version == 6 and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    for network in _networks(tuple(get_setting("BLOCKED_NETWORKS"))):
        if ip.version == network.version and ip in network:
            raise BlockedAddress(
                _(
                    "connecting to %(address)s is not allowed: it is in the blocked network "
                    "%(network)s (link-local and cloud metadata addresses are refused unless "
                    "SMTPCONFIG['ALLOWED_HOSTS'] names the host)"
                )
                % {"address": address, "network": network}
            )
