"""A real DNS server on 127.0.0.1 for the tests (dnspython, UDP).

It serves the records it is given, answers NXDOMAIN for names it does not
know, and never answers for names under a "silent" suffix, so that timeouts
can be tested too.
"""

from __future__ import annotations

import socket
import threading
from contextlib import contextmanager

import dns.flags
import dns.message
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset


class Zone:
    """Records by (name, type); names are absolute (trailing dot added)."""

    def __init__(self, records: dict[tuple[str, str], list[str]], silent: tuple[str, ...] = ()):
        self.records = {
            (name.rstrip(".").lower() + ".", rtype.upper()): values
            for (name, rtype), values in records.items()
        }
        self.silent = tuple(suffix.rstrip(".").lower() + "." for suffix in silent)

    def knows(self, name: str) -> bool:
        return any(known == name for known, _ in self.records)


def _answer(zone: Zone, query: dns.message.Message) -> dns.message.Message | None:
    question = query.question[0]
    name = question.name.to_text().lower()
    if any(name == suffix or name.endswith("." + suffix) for suffix in zone.silent):
        return None
    response = dns.message.make_response(query)
    response.flags |= dns.flags.AA
    rtype = dns.rdatatype.to_text(question.rdtype)
    values = zone.records.get((name, rtype))
    if values:
        response.answer.append(dns.rrset.from_text_list(name, 60, dns.rdataclass.IN, rtype, values))
    elif not zone.knows(name):
        response.set_rcode(dns.rcode.NXDOMAIN)
    return response


@contextmanager
def running_dns_server(zone: Zone, port: int = 0):
    """Serve ``zone`` on 127.0.0.1 (at ``port``, or a free one); yields ``"127.0.0.1:PORT"``."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", port))
    sock.settimeout(0.1)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                data, client = sock.recvfrom(4096)
            except OSError:
                continue
            try:
                response = _answer(zone, dns.message.from_wire(data))
            except Exception:  # noqa: BLE001, S112 - a bad packet is dropped, as a server would
                continue
            if response is not None:
                sock.sendto(response.to_wire(), client)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{sock.getsockname()[1]}"
    finally:
        stop.set()
        thread.join(2)
        sock.close()
