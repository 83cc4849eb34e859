"""The outbox: what a send_mail() call costs the request, and how fast a worker drains.

The server is aiosmtpd in its own process requiring STARTTLS (a certificate
from a throw-away CA, trusted by every client) and AUTH PLAIN/LOGIN, as a
provider's submission port does; it discards what it receives.

1. Request cost. One ``send_mail()`` with (a) smtpconfig's QueuedEmailBackend
   (the outbox row and, on commit, the task row of django-tasks' database
   backend: what the host project does), (b) smtpconfig's EmailBackend,
   synchronous, and (c) Django's ``smtp.EmailBackend``, interleaved call by
   call, against the server behind a delaying proxy (benchmarks/servers.py)
   that adds DELAY to every round trip (each chunk the server sends reaches
   the client DELAY later; the client's data and the TCP connect to the proxy
   are not delayed). Median and 90th percentile per call.
2. Drain rate. N messages queued, then ``smtpconfig.outbox.worker.drain()`` in
   one worker process, and in two worker processes at once, to the server
   without delay (or ``--drain-delay`` ms away, through a proxy), against
   Django's backend sending the same N messages with ``send_messages()`` over
   one connection (in a process of its own too).
   Every process sets Django up and sends one message before the clock
   starts. Messages per second (the median of the rounds), per worker, and
   the ratio of each worker's rate to Django's.

Both run on SQLite (a file in a temporary folder, WAL, as the host project
configures it) and, when DATABASE_URL points to PostgreSQL, on a database
made for the run beside the one it names (dropped afterwards; with
--pg-async-commit also on one with synchronous_commit = off, to show what
flushing each commit to disk costs). Each database
is measured by a child process of this script. The last lines are
`ratio drain WORKERS DATABASE VALUE` and `request DATABASE DELAY_MS BACKEND MEDIAN_MS`.
Run it on a quiet machine; compare medians and ratios, not absolutes.

With ``--pipelining`` the server advertises PIPELINING (RFC 2920), as
providers do: each of our messages then costs two round trips instead of four.

    .venv/bin/python benchmarks/bench_outbox.py [--calls 20] [--delays 20,200]
        [--messages 500] [--rounds 3] [--drain-delay 0] [--pipelining]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.servers import PASSWORD, USER, delaying_proxy, tls_server  # noqa: E402

DJANGO_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
OUR_BACKEND = "smtpconfig.backends.EmailBackend"
QUEUED_BACKEND = "smtpconfig.backends.QueuedEmailBackend"
REQUEST_VARIANTS = [
    ("queued", QUEUED_BACKEND),
    ("smtpconfig", OUR_BACKEND),
    ("django", DJANGO_BACKEND),
]
SENDER, RECIPIENT = "noreply@example.com", "to@example.org"


# Run by every process that needs Django: the database and the CA come from the parent.


def setup_django(config: dict) -> None:
    os.environ["DATABASE_URL"] = config["database_url"]
    os.environ["DJANGO_SETTINGS_MODULE"] = "tests.settings"
    # Django's backend trusts the system's store (ssl.create_default_context()): make
    # that the test CA. smtpconfig's profile carries the CA itself as well.
    os.environ["SSL_CERT_FILE"] = config["ca_path"]
    import django

    django.setup()
    from django.conf import settings

    settings.DEFAULT_FROM_EMAIL = SENDER
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", config["drain_port"]
    settings.EMAIL_TIMEOUT = 10
    settings.EMAIL_USE_TLS, settings.EMAIL_USE_SSL = True, False
    settings.EMAIL_HOST_USER, settings.EMAIL_HOST_PASSWORD = USER, PASSWORD


def point_at(port: int) -> None:
    """Both synchronous backends to ``port`` (the default profile is saved: every
    process sees it at its next connection)."""
    from django.conf import settings

    from smtpconfig.models import SMTPProfile

    settings.EMAIL_PORT = port
    profile = SMTPProfile.objects.get(is_default=True)
    profile.port = port
    profile.password = PASSWORD  # a password is sealed to its server's port
    profile.save()


def messages(count: int, label: str):
    from django.core.mail import EmailMessage

    return [
        EmailMessage(f"{label} {n}", "Body of the message.\n", None, [RECIPIENT])
        for n in range(count)
    ]


def warm_up(backend: str) -> None:
    """Imports, the TLS context, the profile snapshot, DNS_NAME: one message sent."""
    from django.core import mail

    assert mail.get_connection(backend).send_messages(messages(1, "Warm-up")) == 1


# The drain's worker processes: "ready" once set up, the batch on "go", then "done".


def worker_process(role: str, config: dict) -> None:
    setup_django(config)
    from django.core import mail

    if role == "django":
        warm_up(DJANGO_BACKEND)
        batch = messages(config["messages"], "Batch")
        print("ready", flush=True)
        sys.stdin.readline()
        cpu = time.process_time()
        sent = mail.get_connection(DJANGO_BACKEND).send_messages(batch)
    else:
        from smtpconfig.outbox.worker import drain

        warm_up(OUR_BACKEND)
        print("ready", flush=True)
        sys.stdin.readline()
        cpu = time.process_time()
        sent = drain(time_limit=3600).sent
    print(f"done {sent} {time.process_time() - cpu}", flush=True)


def timed_workers(role: str, count: int, config: dict) -> tuple[float, int, float]:
    """Start ``count`` worker processes; once all are ready, the seconds from "go" to the
    last one done, how many messages they sent, and the CPU seconds they spent."""
    argv = [sys.executable, __file__, "--role", role, "--config", json.dumps(config)]
    workers = [
        subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)  # noqa: S603
        for _ in range(count)
    ]
    try:
        for worker in workers:
            line = worker.stdout.readline()
            assert line.strip() == "ready", line
        started = time.perf_counter()
        for worker in workers:
            worker.stdin.write("go\n")
            worker.stdin.flush()
        sent, cpu = 0, 0.0
        for worker in workers:
            line = worker.stdout.readline().split()
            assert line and line[0] == "done", line
            sent += int(line[1])
            cpu += float(line[2])
        elapsed = time.perf_counter() - started
    finally:
        for worker in workers:
            worker.stdin.close()
            worker.wait(60)
    return elapsed, sent, cpu


# One database's measurements (a child process of the script).


def measure(config: dict) -> dict:
    setup_django(config)
    from django.conf import settings
    from django.core import mail
    from django.core.management import call_command

    from smtpconfig.models import OutboxMessage, OutboxState, Security, SMTPProfile

    call_command("migrate", verbosity=0)
    SMTPProfile.objects.create(
        name="Bench",
        host="127.0.0.1",
        port=config["server_port"],
        security=Security.STARTTLS,
        username=USER,
        password=PASSWORD,
        ca_certificate=Path(config["ca_path"]).read_text(),
        from_email=SENDER,
        is_default=True,
    )
    results: dict = {"request": {}, "drain": {}}

    # 1. Request cost.
    for delay_ms, port in config["proxies"]:
        point_at(port)
        for _name, backend in REQUEST_VARIANTS:  # a connection to the delayed server each
            settings.EMAIL_BACKEND = backend
            mail.send_mail("Warm-up", "Body.\n", None, [RECIPIENT])
        times: dict[str, list[float]] = {name: [] for name, _ in REQUEST_VARIANTS}
        for n in range(config["calls"]):
            for name, backend in REQUEST_VARIANTS:
                settings.EMAIL_BACKEND = backend
                started = time.perf_counter()
                sent = mail.send_mail(f"Request {n}", "Body of the message.\n", None, [RECIPIENT])
                times[name].append(time.perf_counter() - started)
                assert sent == 1
        results["request"][str(delay_ms)] = times
    OutboxMessage.objects.all().delete()

    # 2. Drain rate, to the server without delay (or through the drain's proxy).
    point_at(config["drain_port"])
    settings.EMAIL_BACKEND = QUEUED_BACKEND
    n = config["messages"]
    rates: dict[str, list[float]] = {"django": [], "1": [], "2": []}
    cpu: dict[str, list[float]] = {"django": [], "1": [], "2": []}
    for _round in range(config["rounds"]):
        elapsed, sent, seconds = timed_workers("django", 1, config)
        assert sent == n, (sent, n)
        rates["django"].append(n / elapsed)
        cpu["django"].append(seconds / n)
        for workers in (1, 2):
            assert mail.get_connection().send_messages(messages(n, "Queued")) == n
            elapsed, sent, seconds = timed_workers("outbox", workers, config)
            assert sent == n, (sent, n)
            assert not OutboxMessage.objects.exclude(state=OutboxState.SENT).exists()
            OutboxMessage.objects.all().delete()
            rates[str(workers)].append(n / elapsed)
            cpu[str(workers)].append(seconds / n)
    results["drain"], results["cpu"] = rates, cpu
    return results


# The parent: servers, one child per database, the tables.


def postgres_database(url: str, stack: ExitStack, *, synchronous_commit: bool = True) -> str:
    """A fresh database beside the one ``url`` names, dropped when the run ends."""
    import psycopg

    parts = urlsplit(url)
    name = f"smtpconfig_bench_{os.getpid()}" + ("" if synchronous_commit else "_async")
    admin = psycopg.connect(url, autocommit=True)
    admin.execute(f'CREATE DATABASE "{name}"')
    if not synchronous_commit:
        admin.execute(f'ALTER DATABASE "{name}" SET synchronous_commit = off')

    def drop():
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()

    stack.callback(drop)
    return urlunsplit(parts._replace(path=f"/{name}"))


def run_child(config: dict) -> dict:
    result = subprocess.run(  # noqa: S603 (this interpreter, this script)
        [sys.executable, __file__, "--measure", "--config", json.dumps(config)],
        capture_output=True,
        text=True,
        timeout=3600,
    )
    if result.returncode:
        raise SystemExit(result.stdout + result.stderr)
    return json.loads(result.stdout.strip().splitlines()[-1])


def p90(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.9 * (len(ordered) - 1)))]


def report(results: dict, args) -> None:
    print(
        f"Request cost: one send_mail(), {args.calls} calls per backend and delay, interleaved; "
        "server: aiosmtpd, STARTTLS + AUTH, behind a proxy adding the delay to every round trip"
    )
    width = max(len(database) for database in results) + 1
    print(f"{'database':<{width}} {'delay':>6}  {'backend':<28} {'median ms':>10} {'p90 ms':>9}")
    lines = []
    for database, figures in results.items():
        for delay_ms, times in figures["request"].items():
            for name, _ in REQUEST_VARIANTS:
                median = statistics.median(times[name]) * 1000
                label = {
                    "queued": "smtpconfig QueuedEmailBackend",
                    "smtpconfig": "smtpconfig EmailBackend",
                    "django": "Django smtp.EmailBackend",
                }[name]
                print(
                    f"{database:<{width}} {delay_ms + ' ms':>6}  {label:<28} {median:>10.1f} "
                    f"{p90(times[name]) * 1000:>9.1f}"
                )
                lines.append(f"request {database} {delay_ms} {name} {median:.2f}")
    print()
    print(
        f"Drain rate: {args.messages} messages, median of {args.rounds} rounds, server "
        + (f"{args.drain_delay} ms away" if args.drain_delay else "without delay")
        + " (STARTTLS + AUTH"
        + (" + PIPELINING" if args.pipelining else "")
        + "), delivery log on; ratio = each worker's rate / Django's; "
        "CPU = process time of the sending processes per message"
    )
    print(
        f"{'database':<{width}} {'sender':<36} {'msg/s':>8} {'per worker':>11} {'ratio':>6} "
        f"{'CPU ms/msg':>11}"
    )
    for database, figures in results.items():
        django_rate = statistics.median(figures["drain"]["django"])
        for workers in ("django", "1", "2"):
            rate = statistics.median(figures["drain"][workers])
            per_worker = rate / (1 if workers == "django" else int(workers))
            ratio = per_worker / django_rate
            label = (
                "Django send_messages(), 1 connection"
                if workers == "django"
                else f"outbox drain(), {workers} worker process" + ("es" if workers == "2" else "")
            )
            cpu = statistics.median(figures["cpu"][workers]) * 1000
            print(
                f"{database:<{width}} {label:<36} {rate:>8.0f} {per_worker:>11.0f} {ratio:>6.2f} "
                f"{cpu:>11.2f}"
            )
            if workers != "django":
                lines.append(f"ratio drain {workers} {database} {ratio:.2f}")
    if "PostgreSQL-async" in results:
        print(
            "PostgreSQL-async: synchronous_commit = off (a commit returns before its WAL is "
            "flushed: a killed worker loses nothing, a crash of the database server loses "
            "the last ~0.6 s of commits)"
        )
    print()
    print("\n".join(lines))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=20, help="send_mail() calls per backend")
    parser.add_argument(
        "--delays", default="20,200", help="milliseconds added to each round trip, comma-separated"
    )
    parser.add_argument("--messages", type=int, default=500, help="messages per drain")
    parser.add_argument("--rounds", type=int, default=3, help="drain rounds")
    parser.add_argument(
        "--drain-delay",
        type=int,
        default=0,
        help="milliseconds added to each round trip in the drain",
    )
    parser.add_argument("--pipelining", action="store_true", help="the server offers PIPELINING")
    parser.add_argument(
        "--pg-async-commit",
        action="store_true",
        help="with PostgreSQL, measure also on a database with synchronous_commit = off "
        "(PostgreSQL-async): what the commits' flush to disk costs",
    )
    parser.add_argument("--measure", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--role", help=argparse.SUPPRESS)
    parser.add_argument("--config", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.role:
        worker_process(args.role, json.loads(args.config))
        return
    if args.measure:
        print(json.dumps(measure(json.loads(args.config))))
        return

    delays = [int(value) for value in args.delays.split(",") if value.strip()]
    with ExitStack() as stack:
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="outbox-bench-")))
        port, ca_path = stack.enter_context(tls_server(workdir, pipelining=args.pipelining))
        proxies = [
            (delay, stack.enter_context(delaying_proxy(port, delay / 1000))) for delay in delays
        ]
        drain_port = port
        if args.drain_delay:
            drain_port = stack.enter_context(delaying_proxy(port, args.drain_delay / 1000))
        databases = {"SQLite": f"sqlite:///{workdir}/bench.sqlite3"}
        url = os.environ.get("DATABASE_URL", "")
        if url.startswith(("postgres://", "postgresql://")):
            databases["PostgreSQL"] = postgres_database(url, stack)
            if args.pg_async_commit:
                databases["PostgreSQL-async"] = postgres_database(
                    url, stack, synchronous_commit=False
                )
        results = {}
        for database, database_url in databases.items():
            config = {
                "database_url": database_url,
                "ca_path": str(ca_path),
                "server_port": port,
                "drain_port": drain_port,
                "proxies": proxies,
                "calls": args.calls,
                "messages": args.messages,
                "rounds": args.rounds,
            }
            results[database] = run_child(config)
    report(results, args)


if __name__ == "__main__":
    main()
