"""The host project's password-reset POST: does its time tell whether the account exists?

Posts the password-reset form (mailsettings/urls.py, `admin_password_reset`)
through Django's test client, through the whole middleware stack, for an
address that has an account and for one that has none, interleaved, with
smtpconfig's QueuedEmailBackend (the host project's default) and with its
synchronous EmailBackend. The mail server is aiosmtpd in its own process
requiring STARTTLS and AUTH, behind the delaying proxy of benchmarks/servers.py
(DELAY added to every round trip; the client's data and the TCP connect to the
proxy are not delayed). SQLite in a temporary folder, WAL, as the host project
configures it. Since the host project's form hands the look-up and the email to
a task (mailsettings/password_reset.py), no task worker runs here: the POST is
the whole of what the visitor waits for. Prints medians; the last lines are
`reset BACKEND ACCOUNT MEDIAN_MS` and `gap BACKEND MILLISECONDS` (known minus unknown).

    .venv/bin/python benchmarks/bench_password_reset.py [--posts 10] [--delay 200]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.servers import PASSWORD, USER, delaying_proxy, tls_server  # noqa: E402

BACKENDS = [
    ("queued", "smtpconfig.backends.QueuedEmailBackend"),
    ("smtpconfig", "smtpconfig.backends.EmailBackend"),
]
ACCOUNTS = [("known", "alice@example.org"), ("unknown", "nobody@example.org")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--posts", type=int, default=10, help="posts per backend and address")
    parser.add_argument("--delay", type=int, default=200, help="ms added to each round trip")
    args = parser.parse_args()

    with ExitStack() as stack:
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="reset-bench-")))
        server_port, ca_path = stack.enter_context(tls_server(workdir))
        port = stack.enter_context(delaying_proxy(server_port, args.delay / 1000))
        os.environ["DATABASE_URL"] = f"sqlite:///{workdir}/bench.sqlite3"
        os.environ["DJANGO_SETTINGS_MODULE"] = "tests.settings"
        import django

        django.setup()
        from django.conf import settings
        from django.contrib.auth import get_user_model
        from django.core.management import call_command
        from django.test import Client
        from django.urls import reverse
        from django_tasks_db.models import DBTaskResult

        from smtpconfig.models import OutboxMessage, Security, SMTPProfile

        call_command("migrate", verbosity=0)
        SMTPProfile.objects.create(
            name="Bench",
            host="127.0.0.1",
            port=port,
            security=Security.STARTTLS,
            username=USER,
            password=PASSWORD,
            ca_certificate=ca_path.read_text(),
            from_email="noreply@example.com",
            is_default=True,
        )
        get_user_model().objects.create_user("alice", ACCOUNTS[0][1], "Old-Pass-123")
        client, url = Client(), reverse("admin_password_reset")

        def post(backend: str, address: str) -> float:
            settings.EMAIL_BACKEND = backend
            started = time.perf_counter()
            response = client.post(url, {"email": address})
            elapsed = time.perf_counter() - started
            assert response.status_code == 302, response.status_code
            return elapsed

        for _, backend in BACKENDS:  # warm-up: imports, templates, the TLS context
            for _, address in ACCOUNTS:
                post(backend, address)
        times = {(name, account): [] for name, _ in BACKENDS for account, _ in ACCOUNTS}
        for _ in range(args.posts):
            for name, backend in BACKENDS:
                for account, address in ACCOUNTS:
                    times[(name, account)].append(post(backend, address))
        queued = OutboxMessage.objects.count()
        tasks = DBTaskResult.objects.filter(task_path__endswith=".send_password_reset").count()

    print(
        f"Password-reset POST, {args.posts} per backend and address, interleaved; server: "
        f"aiosmtpd, STARTTLS + AUTH, {args.delay} ms added to every round trip; "
        f"{tasks} password-reset tasks and {queued} outbox messages left queued"
    )
    print(f"{'backend':<30} {'account exists':>15} {'no account':>11} {'gap':>8}")
    medians = {key: statistics.median(values) * 1000 for key, values in times.items()}
    lines = []
    for name, _ in BACKENDS:
        known, unknown = medians[(name, "known")], medians[(name, "unknown")]
        label = {"queued": "smtpconfig QueuedEmailBackend", "smtpconfig": "smtpconfig EmailBackend"}
        print(f"{label[name]:<30} {known:>12.1f} ms {unknown:>8.1f} ms {known - unknown:>5.1f} ms")
        lines += [f"reset {name} known {known:.2f}", f"reset {name} unknown {unknown:.2f}"]
        lines.append(f"gap {name} {known - unknown:.2f}")
    print()
    print("\n".join(lines))


if __name__ == "__main__":
    main()
