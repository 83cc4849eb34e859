"""Settings from an email address: presets, MX, SRV records and a short guess.

:func:`discover` returns candidate settings, best first, each saying where it
came from and how sure it is:

1. a preset whose email domains include the address's domain;
2. the domain's MX records matched to a provider (Google Workspace,
   Microsoft 365 by ``*.mail.protection.outlook.com``, Zoho, Fastmail...);
3. RFC 8314 / RFC 6186 SRV records, ``_submissions._tcp`` (implicit TLS) and
   ``_submission._tcp`` (STARTTLS);
4. a bounded guess of ``smtp.<domain>`` and ``mail.<domain>`` on ports 465
   and 587, kept only where an SMTP server really greets; resolved and
   connected to as the probe does it, so never in a blocked network.

It answers within :data:`TIME_BUDGET` seconds even when DNS does not answer,
and says so in its notes when it could not look.
"""

from __future__ import annotations

import logging
import smtplib
import time
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import asdict, dataclass, field, replace

from django.utils.translation import gettext as _

from ..conf import get_setting
from ..log_events import log_event
from ..transport.clients import PreconnectedSMTP
from ..transport.network import open_connection
from ..transport.resolver import Answer, lookup, make_resolver
from ..transport.settings import Security
from ..transport.tls import client_context
from .presets import Preset, preset_for_address, preset_for_mx

#: Seconds discovery may take in all.
TIME_BUDGET = 3.0
_GUESS_PREFIXES = ("smtp", "mail")

HIGH, MEDIUM, LOW = "high", "medium", "low"
#: A preset's settings for its own domain when DNS could not confirm anything: the
#: provider's documented settings, not a finding.
KNOWN = "known"

#: What DNS said: everything ("ok"), some of it ("partial"), nothing ("unreachable"), or
#: answers that cannot be true, such as a known provider's domain not existing ("unreliable":
#: an offline or filtering resolver).
DNS_OK, DNS_PARTIAL, DNS_UNREACHABLE, DNS_UNRELIABLE = "ok", "partial", "unreachable", "unreliable"


@dataclass(frozen=True)
class Candidate:
    """Settings that may work, with where they came from."""

    host: str
    port: int
    security: str
    username: str
    source: str
    confidence: str
    preset: str = ""
    explanation: str = ""

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass
class DiscoveryResult:
    """Candidates, best first, and what could not be checked."""

    address: str
    domain: str
    candidates: list[Candidate] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    dns_answered: bool = True
    #: One of the ``DNS_*`` values: whether DNS could be asked, and believed.
    dns_status: str = DNS_OK
    duration: float = 0.0

    @property
    def found(self) -> bool:
        """Whether there is any candidate to show."""
        return bool(self.candidates)

    def as_dict(self) -> dict:
        return {
            "address": self.address,
            "domain": self.domain,
            "candidates": [candidate.as_dict() for candidate in self.candidates],
            "notes": self.notes,
            "dns_answered": self.dns_answered,
            "dns_status": self.dns_status,
            "duration": round(self.duration, 3),
        }


def _username_for(preset: Preset | None, address: str) -> str:
    if preset is None or preset.username_rule == "address":
        return address
    return preset.username_rule  # a literal such as "apikey", or "" (provider-specific)


def _from_preset(preset: Preset, address: str, source: str, confidence: str, why: str):
    yield Candidate(
        preset.host,
        preset.port,
        str(preset.security),
        _username_for(preset, address),
        source,
        confidence,
        preset.key,
        why,
    )
    if preset.alternative_port:
        yield Candidate(
            preset.host,
            preset.alternative_port,
            str(preset.alternative_security),
            _username_for(preset, address),
            source,
            confidence,
            preset.key,
            _("Alternative port of the same provider."),
        )


def _srv_candidates(answer: Answer, security: str, address: str, service: str) -> list[Candidate]:
    records = []
    for text in answer.records:
        parts = text.split()
        if len(parts) != 4:
            continue
        priority, weight, port, target = int(parts[0]), int(parts[1]), int(parts[2]), parts[3]
        if target == ".":  # RFC 2782: the service is decidedly not available
            continue
        records.append((priority, -weight, target.rstrip("."), port))
    return [
        Candidate(
            target,
            port,
            security,
            address,
            "srv",
            HIGH,
            "",
            _("Published by the domain in its %(record)s DNS record.") % {"record": service},
        )
        for _priority, _weight, target, port in sorted(records)
    ]


def _greets(host: str, port: int, security: str, deadline: float) -> bool:
    """Whether an SMTP server greets on ``host:port`` (TLS first for SSL/TLS) before ``deadline``.

    The host is resolved and connected to as the probe does it, through the
    network policy: a guess that resolves into a blocked network is never
    contacted.
    """
    try:
        sock, _address = open_connection(host, port, max(0.1, deadline - time.monotonic()))
    except OSError:
        return False
    try:
        if security == Security.SSL:
            sock = client_context(verify=False).wrap_socket(sock, server_hostname=host)
        sock.settimeout(max(0.1, deadline - time.monotonic()))
        client = PreconnectedSMTP(sock, server_hostname=host, timeout=sock.gettimeout())
        code, _greeting = client.connect(host, port)
    except (OSError, smtplib.SMTPException):
        sock.close()
        return False
    try:
        client.quit()
    except (OSError, smtplib.SMTPException):
        client.close()
    return code == 220


def _guesses(domain: str, address: str, deadline: float) -> list[Candidate]:
    """smtp.<domain> / mail.<domain> on the discovery ports, if a server greets there."""
    ports = [int(port) for port in get_setting("DISCOVERY_PORTS")]
    options = [
        (f"{prefix}.{domain}", port, Security.SSL if port == 465 else Security.STARTTLS)
        for prefix in _GUESS_PREFIXES
        for port in ports
    ]
    if not options:
        return []
    with ThreadPoolExecutor(max_workers=len(options)) as pool:
        futures = {
            pool.submit(_greets, host, port, security, deadline): (host, port, security)
            for host, port, security in options
        }
        done, _pending = wait(futures, timeout=max(0.1, deadline - time.monotonic()))
    found = []
    for future, (host, port, security) in futures.items():
        if future in done and future.result():
            found.append(
                Candidate(
                    host,
                    port,
                    str(security),
                    address,
                    "guess",
                    LOW,
                    "",
                    _("An SMTP server answered at this usual name and port."),
                )
            )
    return found


def discover(address: str) -> DiscoveryResult:
    """Candidate settings for sending as ``address``, best first; logged as a ``detect``
    event (:mod:`smtpconfig.log_events`) with the domain, never the address."""
    started = time.monotonic()
    result = _discover(address, started)
    log_event(
        logging.INFO,
        "detect",
        "Detected settings for an address at %s: %d candidate(s), DNS %s.",
        result.domain or "-",
        len(result.candidates),
        result.dns_status,
        domain=result.domain,
        outcome="found" if result.candidates else "none",
        candidates=len(result.candidates),
        dns=result.dns_status,
        duration=time.monotonic() - started,
    )
    return result


def _discover(address: str, started: float) -> DiscoveryResult:
    deadline = started + TIME_BUDGET - 0.2
    domain = address.rpartition("@")[2].strip().lower().rstrip(".")
    result = DiscoveryResult(address=address, domain=domain)
    if not domain or "@" not in address:
        result.notes.append(_("Enter a full email address, such as you@example.com."))
        return result
    try:
        domain_ascii = domain.encode("idna").decode("ascii")
    except UnicodeError:
        result.notes.append(_("“%(domain)s” is not a valid domain.") % {"domain": domain})
        return result

    preset = preset_for_address(address)
    if preset:
        result.candidates.extend(
            _from_preset(
                preset,
                address,
                "preset",
                HIGH,
                _("%(provider)s hosts %(domain)s addresses.")
                % {"provider": preset.label, "domain": domain},
            )
        )

    dns_timeout = min(
        float(get_setting("DNS_TIMEOUT")), max(0.2, deadline - time.monotonic() - 1.0)
    )
    resolver = make_resolver(dns_timeout)
    queries = {
        "mx": (domain_ascii, "MX"),
        "submissions": (f"_submissions._tcp.{domain_ascii}", "SRV"),
        "submission": (f"_submission._tcp.{domain_ascii}", "SRV"),
    }
    with ThreadPoolExecutor(max_workers=len(queries)) as pool:
        futures = {key: pool.submit(lookup, resolver, *query) for key, query in queries.items()}
        answers = {key: future.result() for key, future in futures.items()}

    mx = answers["mx"]
    answered = [answer.answered for answer in answers.values()]
    if not any(answered):
        result.dns_status = DNS_UNREACHABLE
    elif not all(answered):
        result.dns_status = DNS_PARTIAL
    elif mx.status == "nxdomain" and preset is not None:
        # A known provider's own domain cannot be missing: the answers are not DNS's.
        result.dns_status = DNS_UNRELIABLE
    result.dns_answered = result.dns_status == DNS_OK
    if result.dns_status == DNS_UNREACHABLE:
        result.notes.append(_("DNS could not be reached, so nothing could be checked."))
    elif result.dns_status == DNS_PARTIAL:
        result.notes.append(
            _(
                "DNS did not answer in time (or could not be asked), so the domain's MX and "
                "SRV records could not all be checked."
            )
        )
    elif result.dns_status == DNS_UNRELIABLE:
        result.notes.append(
            _(
                "DNS says %(domain)s does not exist, but it is a known provider's domain: this "
                "machine's DNS gives no real answers, so nothing could be checked."
            )
            % {"domain": domain}
        )
    elif mx.status == "nxdomain":
        result.notes.append(
            _("The domain %(domain)s does not exist in DNS: check the address for typing errors.")
            % {"domain": domain}
        )
    if mx.status != "ok" or result.dns_status != DNS_OK:
        # Nothing in DNS confirmed the provider: its settings are known, not found.
        result.candidates = [
            replace(candidate, confidence=KNOWN) if candidate.source == "preset" else candidate
            for candidate in result.candidates
        ]

    mx_hosts = [
        record.split()[1].rstrip(".").lower()
        for record in sorted(mx.records, key=lambda r: int(r.split()[0]))
        if len(record.split()) == 2
    ]
    if not preset:
        for mx_host in mx_hosts:
            provider = preset_for_mx(mx_host)
            if provider and provider.host:
                result.candidates.extend(
                    _from_preset(
                        provider,
                        address,
                        "mx",
                        HIGH,
                        _("The domain's mail is handled by %(provider)s (MX %(mx)s).")
                        % {"provider": provider.label, "mx": mx_host},
                    )
                )
                break

    result.candidates += _srv_candidates(
        answers["submissions"], Security.SSL, address, "_submissions._tcp"
    )
    result.candidates += _srv_candidates(
        answers["submission"], Security.STARTTLS, address, "_submission._tcp"
    )

    if result.dns_answered and mx.status != "nxdomain" and time.monotonic() < deadline - 0.3:
        guesses = _guesses(domain_ascii, address, deadline)
        known = {(candidate.host, candidate.port) for candidate in result.candidates}
        result.candidates += [c for c in guesses if (c.host, c.port) not in known]
    elif result.dns_answered and mx.status != "nxdomain":
        result.notes.append(_("No time was left to try smtp.%(domain)s.") % {"domain": domain})

    unique, seen = [], set()
    for candidate in result.candidates:
        key = (candidate.host, candidate.port, candidate.security)
        if key not in seen:
            seen.add(key)
            unique.append(candidate)
    result.candidates = unique
    if not unique:
        # The heading says nothing was found; this says what to do about it.
        result.notes.append(
            _("Ask your mail provider for its SMTP server, port and security mode.")
        )
    result.duration = time.monotonic() - started
    return result
