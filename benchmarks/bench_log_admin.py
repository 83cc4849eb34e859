"""The delivery log's admin pages at scale, on PostgreSQL.

Creates a database of its own (``--database-url``, default
postgres://postgres@127.0.0.1:5432/bench_log; dropped first if it exists and
dropped again at the end unless ``--keep``; ``--reuse`` times the pages again on
a database kept so), migrates it, and fills the log
with ``--rows`` rows (default 1,000,000) in one INSERT … SELECT over
generate_series, spread over the last 30 days and four profiles (70/15/10/5 %),
with realistic recipients, senders, subjects and Message-IDs (90 % sent,
5 % sent after failover, 5 % failed). The table's indexes are dropped for the
fill and built again from their own definitions afterwards, then the table is
analysed.

Then, logged in as a superuser with Django's test Client, it times each page
(one warm-up, then the median of ``--runs``) and prints it with the number of
SQL statements the page ran and the slowest of them: the first page, a
filter (failed deliveries of one profile), a search for one address and one
for a Message-ID; and the deletion of the profile with the most rows through
the admin's delete view (rolled back after each run). The last lines are
``median NAME MS``, one per case.

    .venv/bin/python benchmarks/bench_log_admin.py [--rows 1000000] [--runs 5]
        [--database-url postgres://…/bench_log] [--keep] [--reuse]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path
from urllib.parse import urlencode, urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/bench_log"
PROFILES = [("Main", 70), ("Newsletter", 15), ("Backup", 10), ("Alerts", 5)]

# Recipients: one of 200,000 people (each in five rows) at one of 50 domains.
FILL_SQL = """
INSERT INTO smtpconfig_deliverylog
    (created_at, profile_id, profile_name, tried, sender, recipients, subject,
     message_id, outcome, reply, duration)
SELECT
    now() - (n * (interval '30 days' / %(rows)s)),
    p.id,
    p.name,
    CASE WHEN o.outcome = 'failed_over' THEN
        '[{"profile": "Backup", "server": "smtp.backup.example:587", "step": "connect",
           "error": "Connection refused"}]'::jsonb
    ELSE '[]'::jsonb END,
    p.name || ' <noreply@example.com>',
    'user' || k || '.' || substr(md5(k::text), 1, 6) || '@domain' || (k %% 50)
        || '.example.org',
    (ARRAY['Reset your password', 'Your order #', 'Weekly digest', 'Invoice ',
           'Welcome to Example'])[1 + n %% 5] || (n %% 10000),
    '<' || (1733000000000 + n) || '.' || (1000 + n %% 9000) || '.'
        || (n * 2654435761 %% 4294967296) || '@web-' || (n %% 4) || '.example.com>',
    o.outcome,
    CASE o.outcome WHEN 'failed' THEN '550 5.1.1 <recipient>: Recipient address rejected'
        ELSE '250 2.0.0 Ok: queued as ' || upper(substr(md5(n::text), 1, 10)) END,
    0.02 + (n %% 1000) / 2000.0
FROM generate_series(1::bigint, %(rows)s) AS n
CROSS JOIN LATERAL (SELECT n * 7919 %% 200000 AS k) AS person
CROSS JOIN LATERAL (
    SELECT CASE WHEN n %% 20 = 0 THEN 'failed' WHEN n %% 20 = 1 THEN 'failed_over'
        ELSE 'sent' END AS outcome
) AS o
JOIN (
    SELECT id, name, lower_bound, upper_bound FROM bench_profile_share
) AS p ON abs(hashint8(n)) %% 100 >= p.lower_bound
    AND abs(hashint8(n)) %% 100 < p.upper_bound
"""


def database_name(url: str) -> str:
    return urlsplit(url).path.lstrip("/")


def admin_database(url: str) -> str:
    """The same server's ``postgres`` database, to create and drop the benchmark's."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/postgres"))


def recreate_database(url: str, *, drop_only: bool = False) -> None:
    import psycopg

    name = database_name(url)
    with psycopg.connect(admin_database(url), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if not drop_only:
            conn.execute(f'CREATE DATABASE "{name}"')


def fill(rows: int) -> dict[str, int]:
    """Profiles and ``rows`` log rows; the number of rows each profile got."""
    from django.db import connection

    from smtpconfig.models import Security, SMTPProfile

    lower = 0
    shares = []
    for index, (name, percent) in enumerate(PROFILES):
        profile = SMTPProfile.objects.create(
            name=name,
            host=f"smtp.{name.lower()}.example",
            port=587,
            security=Security.STARTTLS,
            from_email="noreply@example.com",
            is_default=index == 0,
            priority=index + 1,
        )
        shares.append((profile.pk, name, lower, lower + percent))
        lower += percent
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexdef FROM pg_indexes WHERE tablename = 'smtpconfig_deliverylog' "
            "AND indexname NOT LIKE '%%_pkey'"
        )
        definitions = [row[0] for row in cursor.fetchall()]
        cursor.execute(
            "SELECT indexname FROM pg_indexes WHERE tablename = 'smtpconfig_deliverylog' "
            "AND indexname NOT LIKE '%%_pkey'"
        )
        for (name,) in cursor.fetchall():
            cursor.execute(f'DROP INDEX "{name}"')
        cursor.execute(
            "CREATE TEMP TABLE bench_profile_share "
            "(id integer, name text, lower_bound integer, upper_bound integer)"
        )
        cursor.executemany("INSERT INTO bench_profile_share VALUES (%s, %s, %s, %s)", shares)
        cursor.execute(FILL_SQL, {"rows": rows})
        for definition in definitions:
            cursor.execute(definition)
        cursor.execute("VACUUM ANALYZE smtpconfig_deliverylog")
        cursor.execute(
            "SELECT profile_name, count(*) FROM smtpconfig_deliverylog GROUP BY profile_name"
        )
        return dict(cursor.fetchall())


def measure(action, runs: int) -> tuple[float, float, int, float]:
    """Median milliseconds of ``action`` over ``runs`` (after one warm-up), wall-clock
    and this process's CPU time (Django's share, which other loads on the machine do
    not stretch), with the SQL statements of the last run and the slowest of them."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    action()
    times, cpu = [], []
    for _ in range(runs):
        started, started_cpu = time.perf_counter(), time.process_time()
        action()
        times.append((time.perf_counter() - started) * 1000)
        cpu.append((time.process_time() - started_cpu) * 1000)
    with CaptureQueriesContext(connection) as queries:
        action()
    slowest = max((float(query["time"]) * 1000 for query in queries.captured_queries), default=0)
    return (
        statistics.median(times),
        statistics.median(cpu),
        len(queries.captured_queries),
        slowest,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="log rows to fill")
    parser.add_argument("--runs", type=int, default=5, help="timed runs per page")
    parser.add_argument(
        "--database-url",
        default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_URL),
        help="a PostgreSQL database this script creates and drops",
    )
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    parser.add_argument(
        "--reuse",
        action="store_true",
        help="time the pages on a database kept by --keep, without filling it again "
        "(implies --keep)",
    )
    args = parser.parse_args()

    args.keep = args.keep or args.reuse
    if not args.reuse:
        recreate_database(args.database_url)
    os.environ["DATABASE_URL"] = args.database_url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
    try:
        run(args)
    finally:
        from django.db import connections

        connections.close_all()
        if not args.keep:
            recreate_database(args.database_url, drop_only=True)


def run(args) -> None:
    import django

    django.setup()

    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.core.signals import request_finished, request_started
    from django.db import close_old_connections, connection, transaction
    from django.db.models import Count
    from django.test import Client
    from django.test.utils import setup_test_environment
    from django.urls import reverse

    from smtpconfig.models import DeliveryLog, SMTPProfile

    setup_test_environment()
    # One connection for the whole run, as the test runner keeps it: a page measures the
    # page, not a reconnection, and the delete can run inside a transaction rolled back.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    settings.DEBUG = False
    if args.reuse:
        filled = None
        per_profile = dict(
            DeliveryLog.objects.values_list("profile_name").annotate(Count("id")).order_by()
        )
        args.rows = sum(per_profile.values())
        get_user_model().objects.filter(username="bench").delete()
    else:
        call_command("migrate", verbosity=0)
        started = time.perf_counter()
        per_profile = fill(args.rows)
        filled = time.perf_counter() - started
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_size_pretty(pg_total_relation_size('smtpconfig_deliverylog'))")
        size = cursor.fetchone()[0]
        cursor.execute(
            "SELECT indexname, pg_size_pretty(pg_relation_size(indexname::regclass)) "
            "FROM pg_indexes WHERE tablename = 'smtpconfig_deliverylog' ORDER BY indexname"
        )
        indexes = cursor.fetchall()

    user = get_user_model().objects.create_superuser("bench", "bench@example.com", "bench")
    client = Client()
    client.force_login(user)
    url = reverse("admin:smtpconfig_deliverylog_changelist")
    main_profile = SMTPProfile.objects.get(name="Main")
    alerts = SMTPProfile.objects.get(name="Alerts")
    # A recipient and a Message-ID from the middle of the log.
    middle = DeliveryLog.objects.filter(
        pk=DeliveryLog.objects.order_by("pk")[0].pk + args.rows // 2
    )
    address, message_id = middle.values_list("recipients", "message_id").get()

    def page(query: dict, expect: str | None = None):
        def get():
            response = client.get(f"{url}?{urlencode(query)}" if query else url)
            assert response.status_code == 200, response.status_code
            if expect is not None:
                assert expect in response.content.decode(), f"{expect!r} not on the page"

        return get

    def delete_profile():
        with transaction.atomic():
            response = client.post(
                reverse("admin:smtpconfig_smtpprofile_delete", args=[main_profile.pk]),
                {"post": "yes"},
            )
            assert response.status_code == 302, response.status_code
            transaction.set_rollback(True)

    cases = [
        ("first page", page({}), args.runs),
        (
            "filter: failed, one profile",
            page({"outcome__exact": "failed", "profile__id__exact": alerts.pk}),
            args.runs,
        ),
        ("search: an address", page({"q": address}, expect=address), args.runs),
        ("search: a Message-ID", page({"q": message_id}, expect="1 delivery log entry"), args.runs),
        (
            f"delete profile Main ({per_profile.get('Main', 0):,} rows)",
            delete_profile,
            max(1, min(3, args.runs)),
        ),
    ]
    results = []
    for name, action, runs in cases:
        results.append((name, *measure(action, runs)))

    print(
        f"{args.rows:,} log rows"
        + (f" filled in {filled:.1f} s" if filled is not None else " (reused)")
        + f"; table with indexes {size}; PostgreSQL {connection.pg_version // 10000}"
    )
    for index, index_size in indexes:
        print(f"  index {index}: {index_size}")
    print(f"{'case':<40} {'median ms':>10} {'CPU ms':>7} {'SQL':>5} {'slowest SQL ms':>15}")
    for name, median, cpu, statements, slowest in results:
        print(f"{name:<40} {median:>10.1f} {cpu:>7.1f} {statements:>5} {slowest:>15.1f}")
    for name, median, *_ in results:
        print(f"median {name.split(' (')[0].replace(' ', '_').replace(':', '')} {median:.1f}")


if __name__ == "__main__":
    main()
