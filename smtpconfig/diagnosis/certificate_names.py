"""Which of a certificate's names point at the server the conversation reached.

A certificate made for another name is no proof that the name is this
server's: it may name a host that does not exist, or someone else's (a proxy
or a captive portal intercepting the connection shows its own certificate).
A name is offered as the server name only when it resolves, through the
transport's resolver (``DNS_NAMESERVERS``, the network's time limit), to the
address connected to.
"""

from __future__ import annotations

import ipaddress
from concurrent.futures import ThreadPoolExecutor, wait

from ..conf import get_setting
from ..transport.network import resolve

#: At most this many names are looked up (a certificate may list hundreds).
MAX_NAMES = 4


def _same_address(left: str, right: str) -> bool:
    try:
        first, second = ipaddress.ip_address(left), ipaddress.ip_address(right)
    except ValueError:
        return left == right
    mapped = getattr(first, "ipv4_mapped", None) or first
    other = getattr(second, "ipv4_mapped", None) or second
    return mapped == other


def _resolves_to(name: str, address: str, port: int, timeout: float) -> bool:
    try:
        found = resolve(name, port, timeout)
    except (OSError, UnicodeError, ValueError):
        return False
    return any(_same_address(str(entry[4][0]), address) for entry in found)


def names_pointing_at(
    names: list[str], address: str, port: int, timeout: float | None = None
) -> list[str]:
    """The names (wildcards skipped) that resolve to ``address``, in the certificate's order.

    Looked up together, all within ``timeout`` (at most ``DNS_TIMEOUT``); a name
    that does not answer in time is not confirmed.
    """
    if not address:
        return []
    wanted = [name for name in dict.fromkeys(names) if name and "*" not in name][:MAX_NAMES]
    if not wanted:
        return []
    limit = float(get_setting("DNS_TIMEOUT"))
    if timeout:
        limit = min(limit, float(timeout))
    pool = ThreadPoolExecutor(max_workers=len(wanted))
    try:
        futures = {pool.submit(_resolves_to, name, address, port, limit): name for name in wanted}
        done, _pending = wait(futures, timeout=limit + 0.5)
    finally:
        # Never wait for a look-up that overran: it ends on its own time limit.
        pool.shutdown(wait=False, cancel_futures=True)
    return [name for future, name in futures.items() if future in done and future.result()]
