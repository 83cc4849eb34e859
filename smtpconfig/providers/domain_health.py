"""Will the sender's domain get this profile's mail rejected? MX, SPF and DMARC.

:func:`check_sender_domain` looks at the DNS of the profile's sender domain
and returns findings, each with a status and, where something is missing,
what to add to DNS. It never blocks saving: these are warnings.
"""

from __future__ import annotations

import hashlib
import ipaddress
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass

from django.core.cache import cache
from django.utils.translation import gettext as _

from ..transport.resolver import lookup, make_resolver
from .presets import preset_for_address, preset_for_host

OK, WARNING, UNKNOWN = "ok", "warning", "unknown"
_CACHE_SECONDS = 300


@dataclass(frozen=True)
class Finding:
    """One check: its status, what was found, and what to do."""

    check: str
    status: str
    message: str
    fix: str = ""

    def as_dict(self) -> dict:
        return asdict(self)


def _spf_terms(record: str) -> list[str]:
    return record.split()[1:]


def _spf_authorizes(record: str, include: str, host_addresses: list[str]) -> bool:
    """Whether the SPF record names ``include`` or one of the server's addresses."""
    for term in _spf_terms(record):
        mechanism = term.lstrip("+?~-").lower()
        if include and mechanism in (f"include:{include}", f"redirect={include}"):
            return True
        if mechanism.startswith(("ip4:", "ip6:")):
            try:
                network = ipaddress.ip_network(mechanism[4:], strict=False)
            except ValueError:
                continue
            for address in host_addresses:
                try:
                    if ipaddress.ip_address(address) in network:
                        return True
                except ValueError:
                    continue
    return False


def check_sender_domain(from_email: str, host: str, *, use_cache: bool = True) -> list[Finding]:
    """MX, SPF and DMARC findings for the domain of ``from_email`` sending via ``host``."""
    domain = from_email.rpartition("@")[2].strip().lower().rstrip(".")
    if not domain:
        return []
    # Hashed: a key made of raw input could hold spaces or be too long for memcached.
    digest = hashlib.sha256(f"{domain}\n{host.lower()}".encode("utf-8", "replace")).hexdigest()
    key = f"smtpconfig:domain-health:{digest}"
    if use_cache:
        cached = cache.get(key)
        if cached is not None:
            return [Finding(**item) for item in cached]
    findings = _check(domain, host)
    if use_cache and all(finding.status != UNKNOWN for finding in findings):
        cache.set(key, [finding.as_dict() for finding in findings], _CACHE_SECONDS)
    return findings


def _check(domain: str, host: str) -> list[Finding]:
    try:
        domain_ascii = domain.encode("idna").decode("ascii")
    except UnicodeError:
        return []
    resolver = make_resolver()
    with ThreadPoolExecutor(max_workers=4) as pool:
        mx_future = pool.submit(lookup, resolver, domain_ascii, "MX")
        spf_future = pool.submit(lookup, resolver, domain_ascii, "TXT")
        dmarc_future = pool.submit(lookup, resolver, f"_dmarc.{domain_ascii}", "TXT")
        host_future = pool.submit(lookup, resolver, host, "A")
        mx, txt, dmarc, host_a = (
            mx_future.result(),
            spf_future.result(),
            dmarc_future.result(),
            host_future.result(),
        )
    findings: list[Finding] = []

    if not mx.answered:
        findings.append(
            Finding(
                "mx",
                UNKNOWN,
                _("DNS could not be reached, so %(domain)s could not be checked.")
                % {"domain": domain},
            )
        )
        return findings
    if mx.status == "nxdomain" and preset_for_address(f"@{domain}") is not None:
        # A known provider's own domain cannot be missing: these answers are not DNS's.
        findings.append(
            Finding(
                "mx",
                UNKNOWN,
                _(
                    "DNS says %(domain)s does not exist, but it is a known provider's domain: "
                    "this machine's DNS gives no real answers, so it could not be checked."
                )
                % {"domain": domain},
            )
        )
        return findings
    if mx.status == "nxdomain":
        findings.append(
            Finding(
                "mx",
                WARNING,
                _(
                    "The sender domain %(domain)s does not exist in DNS: receivers will reject "
                    "its mail."
                )
                % {"domain": domain},
                _("Use a sender address at a domain you own."),
            )
        )
        return findings
    if mx.records:
        findings.append(
            Finding(
                "mx", OK, _("%(domain)s receives mail (it has MX records).") % {"domain": domain}
            )
        )
    else:
        findings.append(
            Finding(
                "mx",
                WARNING,
                _(
                    "%(domain)s has no MX record: replies and bounces cannot reach it, and some "
                    "receivers reject senders whose domain cannot receive mail."
                )
                % {"domain": domain},
                _("Add an MX record for %(domain)s pointing at your mail server.")
                % {"domain": domain},
            )
        )

    preset = preset_for_host(host)
    include = preset.spf_include if preset else ""
    spf_records = [record for record in txt.records if record.lower().startswith("v=spf1")]
    if not spf_records:
        suggestion = f"v=spf1 include:{include} ~all" if include else "v=spf1 mx ~all"
        findings.append(
            Finding(
                "spf",
                WARNING,
                _("%(domain)s has no SPF record: many receivers treat its mail as suspicious.")
                % {"domain": domain},
                _("Add this TXT record to %(domain)s: %(record)s")
                % {"domain": domain, "record": suggestion},
            )
        )
    elif len(spf_records) > 1:
        findings.append(
            Finding(
                "spf",
                WARNING,
                _(
                    "%(domain)s has %(count)d SPF records; a domain may have only one, so "
                    "receivers ignore them all."
                )
                % {"domain": domain, "count": len(spf_records)},
                _("Merge them into a single v=spf1 record."),
            )
        )
    else:
        record = spf_records[0]
        if _spf_authorizes(record, include, list(host_a.records)):
            findings.append(
                Finding("spf", OK, _("SPF authorizes this server: %(record)s") % {"record": record})
            )
        elif include:
            findings.append(
                Finding(
                    "spf",
                    WARNING,
                    _("The SPF record of %(domain)s does not authorize %(provider)s: %(record)s")
                    % {"domain": domain, "provider": preset.label, "record": record},
                    _("Add include:%(include)s before the final “all” of that record.")
                    % {"include": include},
                )
            )
        else:
            findings.append(
                Finding(
                    "spf",
                    OK,
                    _("%(domain)s has an SPF record (%(record)s); check that it covers %(host)s.")
                    % {"domain": domain, "record": record, "host": host},
                )
            )

    dmarc_records = [r for r in dmarc.records if r.lower().replace(" ", "").startswith("v=dmarc1")]
    if not dmarc_records:
        findings.append(
            Finding(
                "dmarc",
                WARNING,
                _(
                    "%(domain)s has no DMARC record: Gmail and Yahoo require one from bulk "
                    "senders, and it protects the domain against spoofing."
                )
                % {"domain": domain},
                _(
                    "Add this TXT record at _dmarc.%(domain)s: v=DMARC1; p=none; "
                    "rua=mailto:dmarc@%(domain)s"
                )
                % {"domain": domain},
            )
        )
    else:
        tags = dict(
            part.strip().split("=", 1) for part in dmarc_records[0].split(";") if "=" in part
        )
        policy = tags.get("p", "none").strip().lower()
        findings.append(
            Finding(
                "dmarc",
                OK,
                _("DMARC policy of %(domain)s: %(policy)s.") % {"domain": domain, "policy": policy},
                _("With p=%(policy)s, mail that fails SPF and DKIM alignment is %(effect)s.")
                % {
                    "policy": policy,
                    "effect": {
                        "reject": _("rejected"),
                        "quarantine": _("put in spam"),
                    }.get(policy, _("still delivered (monitoring only)")),
                },
            )
        )
    return findings
