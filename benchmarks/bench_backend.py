"""The site's send path: smtpconfig's backend against Django's own SMTP backend.

Sends N messages (default 2,000) to the same local aiosmtpd sink (in its own
process, aiosmtpd's stock Sink handler) with
(a) django.core.mail.backends.smtp.EmailBackend configured by settings and
(b) smtpconfig.backends.EmailBackend with the delivery log off and on,
interleaved in one run (each round sends a slice with every variant), for two
patterns: one connection for the whole batch (send_messages) and one
send_mail() call per message. It prints messages per second, the ratio to
Django's backend, and SQL statements per message (counted by SQLite's trace
callback in a separate short pass, so that counting does not slow the timed
one). The last lines
are `ratio PATTERN LOG VALUE`, one per pattern and log setting.

The database is SQLite in a temporary folder, configured as the host project
configures it (WAL). Run on a quiet machine; compare ratios, not absolutes.

    .venv/bin/python benchmarks/bench_backend.py [--messages 2000] [--rounds 10] [--cache ALIAS]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
_workdir = tempfile.mkdtemp(prefix="smtpconfig-bench-")
os.environ["DATABASE_URL"] = f"sqlite:///{_workdir}/bench.sqlite3"
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.core import mail  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402

from benchmarks.backends import point_both_backends_at  # noqa: E402
from benchmarks.servers import sink  # noqa: E402
from smtpconfig.models import DeliveryLog  # noqa: E402

DJANGO_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
OUR_BACKEND = "smtpconfig.backends.EmailBackend"
VARIANTS = [
    ("django", DJANGO_BACKEND, None),
    ("off", OUR_BACKEND, False),
    ("on", OUR_BACKEND, True),
]
PATTERNS = ["batch", "single"]


def statements_during(action) -> list[str]:
    """Every SQL statement SQLite runs during ``action``.

    Counted by SQLite itself: smtpconfig runs its two per-connection
    statements on the DB-API cursor, which Django's query capture cannot see.
    """
    connection.ensure_connection()
    statements: list[str] = []
    connection.connection.set_trace_callback(statements.append)
    try:
        action()
    finally:
        connection.connection.set_trace_callback(None)
    return [
        s
        for s in statements
        if s.split(None, 1)[0].upper() in {"SELECT", "INSERT", "UPDATE", "DELETE"}
    ]


def configure(backend: str, log: bool | None) -> None:
    settings.EMAIL_BACKEND = backend
    settings.SMTPCONFIG = {**settings.SMTPCONFIG, "DELIVERY_LOG": bool(log)}


def send(pattern: str, count: int) -> None:
    if pattern == "batch":
        messages = [
            mail.EmailMessage(f"Batch {n}", "Body of the message.\n", to=["to@example.org"])
            for n in range(count)
        ]
        sent = mail.get_connection().send_messages(messages)
    else:
        sent = sum(
            mail.send_mail(f"Single {n}", "Body of the message.\n", None, ["to@example.org"])
            for n in range(count)
        )
    assert sent == count, (pattern, sent, count)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=2000, help="messages per variant")
    parser.add_argument("--rounds", type=int, default=10, help="interleaved rounds")
    parser.add_argument(
        "--cache",
        metavar="ALIAS",
        help="SMTPCONFIG['CACHE'] for smtpconfig: profile changes announced through this "
        "Django cache, so opening a connection makes no database query",
    )
    args = parser.parse_args()
    if args.cache:
        settings.SMTPCONFIG = {**settings.SMTPCONFIG, "CACHE": args.cache}

    call_command("migrate", verbosity=0)
    # The sink runs in a process of its own, as a relay would: in this process it would
    # compete for the GIL and amplify every microsecond the client spends.
    with sink() as port:
        # Both backends with the same timeout: a socket with a timeout costs a poll()
        # before each read and write, and no production setup should run without one.
        point_both_backends_at(port)

        # Warm-up: imports, the profile snapshot, DNS_NAME, the first connections.
        for _, backend, log in VARIANTS:
            configure(backend, log)
            for pattern in PATTERNS:
                send(pattern, 20)

        per_round = max(1, args.messages // args.rounds)
        elapsed = {(pattern, name): 0.0 for pattern in PATTERNS for name, _, _ in VARIANTS}
        for _ in range(args.rounds):
            for pattern in PATTERNS:
                for name, backend, log in VARIANTS:
                    configure(backend, log)
                    started = time.perf_counter()
                    send(pattern, per_round)
                    elapsed[(pattern, name)] += time.perf_counter() - started
        sent = per_round * args.rounds

        queries = {}
        for pattern in PATTERNS:
            for name, backend, log in VARIANTS:
                configure(backend, log)
                queries[(pattern, name)] = (
                    len(statements_during(lambda p=pattern: send(p, 50))) / 50
                )

    print(
        f"{sent} messages per variant, {args.rounds} interleaved rounds, "
        "sink process on 127.0.0.1, timeout 10 s for both backends"
        + (f", SMTPCONFIG['CACHE']={args.cache!r}" if args.cache else "")
    )
    print(f"{'pattern':<8} {'backend':<32} {'msg/s':>9} {'ratio':>7} {'SQL/msg':>8}")
    ratios = {}
    for pattern in PATTERNS:
        django_rate = sent / elapsed[(pattern, "django")]
        for name, _, _ in VARIANTS:
            rate = sent / elapsed[(pattern, name)]
            ratio = rate / django_rate
            label = "Django smtp.EmailBackend" if name == "django" else f"smtpconfig, log {name}"
            print(
                f"{pattern:<8} {label:<32} {rate:>9.0f} {ratio:>7.2f} "
                f"{queries[(pattern, name)]:>8.2f}"
            )
            if name != "django":
                ratios[(pattern, name)] = ratio
    print(f"delivery log rows written: {DeliveryLog.objects.count()}")
    for (pattern, log), ratio in ratios.items():
        print(f"ratio {pattern} {log} {ratio:.2f}")


if __name__ == "__main__":
    main()
