"""Resolve a host and connect to it: the one path every outgoing connection takes.

:func:`resolve` asks ``SMTPCONFIG["DNS_NAMESERVERS"]`` when set (the same
nameservers as discovery and the domain checks), else the system's resolver,
always within a time limit. :func:`connect` checks each address against the
network policy before connecting to it, so a host name that resolves into a
blocked network is never contacted. The probe, its certificate re-read and
discovery's confirmation of guessed hosts all go through here.
"""

from __future__ import annotations

import ipaddress
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from django.utils.translation import gettext as _

from ..conf import get_setting
from .policy import BlockedAddress, check_address
from .resolver import lookup, make_resolver


def resolve(host: str, port: int, timeout: float) -> list[tuple]:
    """The host's addresses, through ``SMTPCONFIG["DNS_NAMESERVERS"]`` if set, else the system's.

    Returns ``getaddrinfo``-style tuples. Raises :class:`socket.gaierror` for
    an unknown name and :class:`TimeoutError` when DNS does not answer within
    ``timeout``.
    """
    try:
        literal = ipaddress.ip_address(host)
    except ValueError:
        pass
    else:
        # A literal address: nothing to look up, and no thread to bound the look-up with
        # (the site's mail to a local relay opens a connection per message).
        return addrinfo([str(literal)], port)
    if get_setting("DNS_NAMESERVERS"):
        return _resolve_with_dnspython(host, port, timeout)
    return _getaddrinfo(host, port, timeout)


def _resolve_with_dnspython(host: str, port: int, timeout: float) -> list[tuple]:
    name = host.lower().rstrip(".")
    if name == "localhost" or name.endswith(".localhost"):
        return _getaddrinfo("localhost", port, timeout)  # RFC 6761: always loopback
    resolver = make_resolver(timeout)
    # Both families at once: one after the other, a silent server would take twice the timeout.
    with ThreadPoolExecutor(max_workers=2) as pool:
        answers = list(pool.map(lambda rtype: lookup(resolver, host, rtype), ("AAAA", "A")))
    addresses = [record for answer in answers for record in answer.records]
    if addresses:
        return addrinfo(addresses, port)
    if any(answer.status == "timeout" for answer in answers):
        raise TimeoutError(_("no answer from DNS within %(timeout)s s") % {"timeout": timeout})
    raise socket.gaierror(socket.EAI_NONAME, _("Name or service not known"))


def addrinfo(addresses: list[str], port: int) -> list[tuple]:
    """``getaddrinfo``-style tuples for addresses already known (for :func:`connect`)."""
    return [
        (
            socket.AF_INET6 if ":" in address else socket.AF_INET,
            socket.SOCK_STREAM,
            6,
            "",
            (address, port),
        )
        for address in addresses
    ]


def _getaddrinfo(host: str, port: int, timeout: float) -> list[tuple]:
    """getaddrinfo bounded by ``timeout`` (the system resolver has no time limit)."""
    outcome: dict[str, Any] = {}

    def lookup() -> None:
        try:
            outcome["addresses"] = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except OSError as exc:
            outcome["error"] = exc

    worker = threading.Thread(target=lookup, name="smtpconfig-resolve", daemon=True)
    worker.start()
    worker.join(timeout)
    if worker.is_alive():
        raise TimeoutError(_("no answer from DNS within %(timeout)s s") % {"timeout": timeout})
    if "error" in outcome:
        raise outcome["error"]
    return outcome["addresses"]


def _describe(exc: OSError) -> str:
    return exc.strerror or str(exc) or _("timed out")


def connect(
    host: str, addresses: list[tuple], timeout: float
) -> tuple[socket.socket, str, list[str]]:
    """Connect to the first allowed address that answers within the shared time budget.

    ``addresses`` are :func:`resolve`'s tuples for ``host``. Each is checked
    against the network policy before anything is sent to it. Returns the
    socket, the address connected to and a line for each address that was
    skipped or failed; raises the last error (:class:`BlockedAddress` when
    every address was refused) if none answered.
    """
    deadline = time.monotonic() + timeout
    failures: list[str] = []
    last_error: OSError = TimeoutError(_("timed out"))
    for family, socktype, proto, _canonname, sockaddr in addresses:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        try:
            check_address(host, str(sockaddr[0]))
        except BlockedAddress as exc:
            last_error = exc
            failures.append(f"{sockaddr[0]}: {exc}")
            continue
        sock = socket.socket(family, socktype, proto)
        sock.settimeout(remaining)
        try:
            sock.connect(sockaddr)
        except OSError as exc:
            sock.close()
            last_error = exc
            failures.append(f"{sockaddr[0]}: {_describe(exc)}")
            continue
        sock.settimeout(timeout)
        return sock, sockaddr[0], failures
    raise last_error


def open_connection(host: str, port: int, timeout: float) -> tuple[socket.socket, str]:
    """Resolve ``host`` and connect to ``port`` through the network policy, within ``timeout``.

    Returns the socket and the address connected to.
    """
    deadline = time.monotonic() + timeout
    addresses = resolve(host, port, timeout)
    sock, address, _failures = connect(host, addresses, max(0.001, deadline - time.monotonic()))
    return sock, address
