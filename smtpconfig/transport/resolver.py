"""DNS look-ups with dnspython, through the nameservers and timeout in the settings.

``SMTPCONFIG["DNS_NAMESERVERS"]``: a list of servers, each ``"192.0.2.53"``,
``"127.0.0.1:5353"``, ``"::1"`` or ``"[::1]:5353"``; empty for the system's.
``SMTPCONFIG["DNS_TIMEOUT"]``: seconds for one look-up, all retries included.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

import dns.exception
import dns.resolver

from ..conf import get_setting
from ..exceptions import SMTPConfigImproperlyConfigured


@dataclass(frozen=True)
class Answer:
    """What a look-up found: its records as text, or why there are none."""

    records: tuple[str, ...] = ()
    #: "ok", "nxdomain" (no such name), "nodata" (name, but no such record),
    #: "timeout" (no answer in time) or "error" (any other failure).
    status: str = "ok"

    @property
    def answered(self) -> bool:
        """Whether DNS gave an answer (even "no such record")."""
        return self.status in ("ok", "nxdomain", "nodata")


def parse_nameserver(entry: str) -> tuple[str, int]:
    """``"127.0.0.1:5353"`` → ``("127.0.0.1", 5353)``; port 53 when none is given."""
    text = str(entry).strip()
    host, port = text, 53
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        if rest.startswith(":"):
            port = int(rest[1:])
    elif text.count(":") == 1:
        host, port_text = text.split(":")
        port = int(port_text)
    try:
        ipaddress.ip_address(host)
    except ValueError:
        raise SMTPConfigImproperlyConfigured(
            f"SMTPCONFIG['DNS_NAMESERVERS'] entry {entry!r} is not an IP address "
            "(optionally with :port, or [IPv6]:port)."
        ) from None
    if not 0 < port < 65536:
        raise SMTPConfigImproperlyConfigured(f"DNS nameserver port out of range in {entry!r}.")
    return host, port


def make_resolver(timeout: float | None = None) -> dns.resolver.Resolver:
    """A resolver configured from the settings."""
    entries = get_setting("DNS_NAMESERVERS") or []
    if entries:
        resolver = dns.resolver.Resolver(configure=False)
        servers = [parse_nameserver(entry) for entry in entries]
        resolver.nameservers = [host for host, _ in servers]
        resolver.nameserver_ports = {host: port for host, port in servers}
    else:
        try:
            resolver = dns.resolver.Resolver()
        except dns.resolver.NoResolverConfiguration:
            resolver = dns.resolver.Resolver(configure=False)
            resolver.nameservers = []
    lifetime = float(get_setting("DNS_TIMEOUT") if timeout is None else timeout)
    resolver.lifetime = lifetime
    resolver.timeout = min(lifetime, 1.0)
    return resolver


def lookup(resolver: dns.resolver.Resolver, name: str, rtype: str) -> Answer:
    """Look ``name`` up; never raises."""
    if not resolver.nameservers:
        return Answer(status="error")
    try:
        answer = resolver.resolve(name, rtype, search=False)
    except dns.resolver.NXDOMAIN:
        return Answer(status="nxdomain")
    except dns.resolver.NoAnswer:
        return Answer(status="nodata")
    except (dns.exception.Timeout, dns.resolver.LifetimeTimeout):
        return Answer(status="timeout")
    except dns.exception.DNSException:
        return Answer(status="error")
    if rtype.upper() == "TXT":
        # One TXT record may be split into several strings: join them back.
        return Answer(
            records=tuple(b"".join(record.strings).decode("utf-8", "replace") for record in answer)
        )
    return Answer(records=tuple(record.to_text() for record in answer))
