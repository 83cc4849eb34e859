"""Which addresses tests and the backend may connect to.

An admin page that connects wherever it is told is a way into the server's
own network: a cloud instance's metadata service (169.254.169.254) hands out
credentials to whoever asks. Link-local addresses are refused by default;
``SMTPCONFIG["BLOCKED_NETWORKS"]`` narrows or widens the list and
``SMTPCONFIG["ALLOWED_HOSTS"]`` names hosts (or addresses) exempt from it.
The check runs on the address actually connected to, after DNS, so a host
name that resolves to a blocked address is caught too.

An address is checked in every form it reaches: the IPv4 address inside an
IPv4-mapped, IPv4-compatible, IPv4-translated, NAT64 (64:ff9b::/96), 6to4
(2002::/16) or Teredo (2001::/32) IPv6 address is checked as well, and the
unspecified address (0.0.0.0, ::, and the rest of 0.0.0.0/8), which the
operating system connects to the machine itself, counts as loopback
(127.0.0.1 and ::1). Blocking 127.0.0.0/8 therefore blocks ``0``,
``0.0.0.0``, ``[::]`` and ``::ffff:127.0.0.1`` too.
"""

from __future__ import annotations

import functools
import ipaddress

from django.utils.translation import gettext as _

from ..conf import get_setting
from ..exceptions import SMTPConfigImproperlyConfigured


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


IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_THIS_HOST = ipaddress.ip_network("0.0.0.0/8")
_LOOPBACK = (ipaddress.ip_address("127.0.0.1"), ipaddress.ip_address("::1"))
# IPv6 ranges whose last 32 bits are an IPv4 address the packets end up at.
_LAST_32_BITS_IPV4 = (
    ipaddress.ip_network("::/96"),  # IPv4-compatible (deprecated), ::a.b.c.d
    ipaddress.ip_network("::ffff:0:0:0/96"),  # IPv4-translated (SIIT), ::ffff:0:a.b.c.d
    ipaddress.ip_network("64:ff9b::/96"),  # NAT64, the well-known prefix
)


def reached_addresses(ip: IPAddress) -> list[IPAddress]:
    """``ip`` and every address a connection to it may reach, each to be checked.

    The IPv4 address embedded in an IPv6 form (IPv4-mapped, -compatible,
    -translated, NAT64, 6to4, Teredo server and client), and loopback for the
    unspecified address, which the operating system connects to this machine.
    """
    reached = [ip]
    if ip.version == 6:
        embedded = [ip.ipv4_mapped, ip.sixtofour, *(ip.teredo or ())]
        if int(ip) > 1 and any(ip in network for network in _LAST_32_BITS_IPV4):
            embedded.append(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
        for address in embedded:
            if address is not None:
                reached += reached_addresses(address)
    if ip.is_unspecified or ip in _THIS_HOST:
        reached += _LOOPBACK
    return list(dict.fromkeys(reached))


def check_address(host: str, address: str) -> None:
    """Raise :class:`BlockedAddress` if connecting to ``address`` (for ``host``) is refused."""
    allowed = {str(name).lower().rstrip(".") for name in get_setting("ALLOWED_HOSTS")}
    if host.lower().rstrip(".") in allowed or address in allowed:
        return
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return
    networks = _networks(tuple(get_setting("BLOCKED_NETWORKS")))
    for reached in reached_addresses(ip):
        for network in networks:
            if reached.version == network.version and reached in network:
                raise BlockedAddress(_blocked_message(address, reached, network))


def _blocked_message(address: str, reached: IPAddress, network) -> str:
    values = {"address": address, "reached": reached, "network": network}
    if ipaddress.ip_address(address.split("%", 1)[0]) == reached:
        return (
            _(
                "connecting to %(address)s is not allowed: it is in the blocked network "
                "%(network)s (link-local and cloud metadata addresses are refused unless "
                "SMTPCONFIG['ALLOWED_HOSTS'] names the host)"
            )
            % values
        )
    return (
        _(
            "connecting to %(address)s is not allowed: it reaches %(reached)s, in the blocked "
            "network %(network)s (link-local and cloud metadata addresses are refused unless "
            "SMTPCONFIG['ALLOWED_HOSTS'] names the host)"
        )
        % values
    )
