"""A server a round trip away: smtpconfig's backend (pool, pipelining) against Django's.

The server is aiosmtpd in its own process requiring STARTTLS (a certificate
from a throw-away CA) and AUTH, advertising PIPELINING as providers do
(benchmarks/servers.py). In front of it, a TCP proxy on 127.0.0.1 (its own
process) holds every piece of data ``--delay`` ms each way, and a new
connection as long as TCP's handshake would: a server 2 × delay away.

1. per-call: ``--calls`` separate ``send_mail()`` calls, with smtpconfig's
   ``EmailBackend`` (the pool on, as shipped) and with Django's
   ``smtp.EmailBackend``, interleaved in ``--rounds`` rounds. Each of
   Django's calls opens a connection (TCP, EHLO, STARTTLS, EHLO, AUTH) and
   QUITs it; ours reuse the pooled one after an RSET.
2. batch: ``--messages`` messages over one connection (``send_messages()``
   after ``open()``; the opening is not timed), both backends, interleaved.
   What is gained here is pipelining's (MAIL, RCPT and DATA in one write).
3. memory: ``--memory-sends`` ``send_mail()`` calls with ours, straight to
   the server (no delay, so that it ends in reasonable time): the resident
   set size and the Python objects alive after a tenth of them and at the
   end.

It prints messages per second (medians over the rounds) and, last, the
lines ``ratio per-call X`` and ``ratio batch Y``: ours over Django's.
Compare ratios, not absolutes; run on a quiet machine.

    .venv/bin/python benchmarks/bench_rtt.py [--delay 10] [--calls 20] [--messages 100]
        [--rounds 5] [--memory-sends 10000]
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.servers import PASSWORD, USER, delaying_proxy, tls_server  # noqa: E402

DJANGO_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
OUR_BACKEND = "smtpconfig.backends.EmailBackend"
BACKENDS = [("django", DJANGO_BACKEND), ("smtpconfig", OUR_BACKEND)]
SENDER, RECIPIENT = "noreply@example.com", "to@example.org"


def setup_django(workdir: str, ca_path: Path) -> None:
    os.environ["DATABASE_URL"] = f"sqlite:///{workdir}/bench.sqlite3"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
    # Django's backend trusts the system's store (ssl.create_default_context()): make that
    # the test CA. smtpconfig's profile carries the CA itself.
    os.environ["SSL_CERT_FILE"] = str(ca_path)
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    settings.DEFAULT_FROM_EMAIL = SENDER
    settings.EMAIL_TIMEOUT = 10
    settings.EMAIL_USE_TLS, settings.EMAIL_USE_SSL = True, False
    settings.EMAIL_HOST_USER, settings.EMAIL_HOST_PASSWORD = USER, PASSWORD


def point_at(port: int, ca_path: Path) -> None:
    """Both backends to 127.0.0.1:``port`` (the profile saved: the pool drops the rest)."""
    from django.conf import settings

    from smtpconfig.models import Security, SMTPProfile

    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", port
    profile = SMTPProfile.objects.filter(name="Bench").first() or SMTPProfile(
        name="Bench",
        host="127.0.0.1",
        security=Security.STARTTLS,
        username=USER,
        from_email=SENDER,
        ca_certificate=ca_path.read_text(),
        timeout=10,
        is_default=True,
    )
    profile.port = port
    profile.password = PASSWORD  # a password is sealed to its server's port
    profile.save()


def emails(count: int, label: str):
    from django.core.mail import EmailMessage

    return [
        EmailMessage(f"{label} {n}", "Body of the message.\n", SENDER, [RECIPIENT])
        for n in range(count)
    ]


def per_call(backend: str, calls: int) -> float:
    """Seconds for ``calls`` send_mail() calls, each with a backend of its own."""
    from django.conf import settings
    from django.core import mail

    settings.EMAIL_BACKEND = backend
    started = time.perf_counter()
    for number in range(calls):
        assert mail.send_mail(f"Call {number}", "Body.\n", SENDER, [RECIPIENT]) == 1
    return time.perf_counter() - started


def batch(backend: str, count: int) -> float:
    """Seconds for ``count`` messages over one connection (opened before the clock)."""
    from django.core import mail

    messages = emails(count, "Batch")
    connection = mail.get_connection(backend)
    connection.open()
    started = time.perf_counter()
    sent = connection.send_messages(messages)
    elapsed = time.perf_counter() - started
    connection.close()
    assert sent == count, (backend, sent)
    return elapsed


def resident_kib() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") // 1024


def memory(sends: int) -> list[tuple[int, int, int]]:
    """(sends so far, RSS KiB, live objects) after a tenth of ``sends`` and at the end."""
    from django.conf import settings
    from django.core import mail

    settings.EMAIL_BACKEND = OUR_BACKEND
    points, first = [], max(1, sends // 10)
    for number in range(1, sends + 1):
        mail.send_mail(f"Memory {number}", "Body.\n", SENDER, [RECIPIENT])
        if number in (first, sends):
            gc.collect()
            points.append((number, resident_kib(), len(gc.get_objects())))
    return points


def round_trip(port: int) -> float:
    """The median seconds of a NOOP through the proxy: the round trip as measured."""
    import smtplib

    client = smtplib.SMTP("127.0.0.1", port, timeout=10)
    samples = []
    for _ in range(10):
        started = time.perf_counter()
        client.noop()
        samples.append(time.perf_counter() - started)
    client.quit()
    return statistics.median(samples)


def rate(count: int, seconds: list[float]) -> float:
    return count / statistics.median(seconds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--delay", type=float, default=10.0, help="ms added each way")
    parser.add_argument("--calls", type=int, default=20, help="send_mail() calls per round")
    parser.add_argument("--messages", type=int, default=100, help="messages per batch")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds")
    parser.add_argument("--memory-sends", type=int, default=10000, help="sends for memory")
    args = parser.parse_args()

    workdir = tempfile.mkdtemp(prefix="smtpconfig-bench-")
    with (
        tls_server(Path(workdir), pipelining=True) as (server_port, ca_path),
        delaying_proxy(server_port, args.delay / 1000, each_way=True) as proxy_port,
    ):
        setup_django(workdir, ca_path)
        from django.conf import settings

        from smtpconfig.delivery.pool import POOL
        from smtpconfig.models import DeliveryLog

        point_at(proxy_port, ca_path)
        for _, backend in BACKENDS:  # warm-up: imports, TLS contexts, the snapshot
            per_call(backend, 2)
            batch(backend, 2)
        times: dict[tuple[str, str], list[float]] = {}
        for _ in range(args.rounds):
            for name, backend in BACKENDS:
                times.setdefault(("per-call", name), []).append(per_call(backend, args.calls))
            for name, backend in BACKENDS:
                times.setdefault(("batch", name), []).append(batch(backend, args.messages))
        measured = round_trip(proxy_port)
        POOL.clear()

        point_at(server_port, ca_path)
        settings.SMTPCONFIG = {**settings.SMTPCONFIG, "DELIVERY_LOG": False}
        points = memory(args.memory_sends) if args.memory_sends else []
        logged = DeliveryLog.objects.count()
        POOL.clear()

    print(
        f"STARTTLS + AUTH + PIPELINING server (aiosmtpd) behind a proxy adding {args.delay:g} ms "
        f"each way (round trip {2 * args.delay:g} ms); {args.rounds} interleaved rounds, medians"
    )
    print(f"one round trip (NOOP) through the proxy: {1000 * measured:.1f} ms")
    print(f"{'case':<10} {'backend':<26} {'msg/s':>8} {'ms/msg':>8}")
    ratios = {}
    for case, count in (("per-call", args.calls), ("batch", args.messages)):
        reference = rate(count, times[(case, "django")])
        for name, _ in BACKENDS:
            value = rate(count, times[(case, name)])
            label = "Django smtp.EmailBackend" if name == "django" else "smtpconfig (pool on)"
            print(f"{case:<10} {label:<26} {value:>8.1f} {1000 / value:>8.1f}")
        ratios[case] = rate(count, times[(case, "smtpconfig")]) / reference
    print(f"delivery log rows during the comparisons: {logged}")
    if points:
        (early, early_rss, early_objects), (end, end_rss, end_objects) = points
        print(
            f"memory, smtpconfig, send_mail() straight to the server (log off): after {early} "
            f"sends RSS {early_rss} KiB, {early_objects} objects; after {end} sends RSS "
            f"{end_rss} KiB, {end_objects} objects; growth {end_rss - early_rss} KiB, "
            f"{end_objects - early_objects} objects"
        )
    print(f"ratio per-call {ratios['per-call']:.2f}")
    print(f"ratio batch {ratios['batch']:.2f}")


if __name__ == "__main__":
    main()
