"""How long the probe takes to a verdict, and what a successful probe costs.

For each failure case the diagnosis knows, a local server (aiosmtpd or a raw
socket on 127.0.0.1) is set up to fail that way, and the probe's time to a
verdict is printed next to the timeout it was given. Then a successful probe
is timed against a bare smtplib send to the same server, interleaved in one
run. Medians; run it on a quiet machine and compare ratios, not absolutes.

    .venv/bin/python benchmarks/probe_latency.py [--timeout 2] [--repeat 5] [--sends 200]
"""

from __future__ import annotations

import argparse
import datetime
import os
import smtplib
import ssl
import statistics
import sys
import time
from contextlib import ExitStack
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")

import django  # noqa: E402

django.setup()

import trustme  # noqa: E402
from django.conf import settings  # noqa: E402

from smtpconfig.models import Security  # noqa: E402
from smtpconfig.probe import ProbeSettings, run_probe  # noqa: E402
from tests.dnsd import Zone, running_dns_server  # noqa: E402
from tests.smtpd import (  # noqa: E402
    RecordingHandler,
    blackhole_port,
    free_port,
    running_smtp_server,
    scripted_server,
)

USER, PASSWORD = "bench@example.com", "pässwörd"
RECIPIENT = "rcpt@example.org"


def tls_context(ca: trustme.CA, *names: str, **dates) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert(*names, **dates).configure_cert(context)
    return context


def failure_cases(stack: ExitStack, ca: trustme.CA, ca_pem: str, timeout: float):
    """(name, settings) for each failure, with its server started on ``stack``."""
    base = {
        "host": "127.0.0.1",
        "security": Security.NONE,
        "from_email": "noreply@example.com",
        "timeout": timeout,
        # The local servers speak plain SMTP; the AUTH cases must reach the server.
        "allow_plaintext_auth": True,
    }
    # Name look-ups go to a DNS server on 127.0.0.1 that knows no names.
    dns_address = stack.enter_context(running_dns_server(Zone({})))
    settings.SMTPCONFIG = {**settings.SMTPCONFIG, "DNS_NAMESERVERS": [dns_address]}
    good = tls_context(ca, "localhost", "127.0.0.1")
    plain = stack.enter_context(running_smtp_server())
    implicit = stack.enter_context(running_smtp_server(implicit_tls_context=good))
    auth = stack.enter_context(running_smtp_server(users={USER: PASSWORD}))
    other_name = stack.enter_context(
        running_smtp_server(implicit_tls_context=tls_context(ca, "mail.other.test"))
    )
    expired = stack.enter_context(
        running_smtp_server(
            starttls_context=tls_context(
                ca,
                "127.0.0.1",
                not_before=datetime.datetime(2020, 1, 1, tzinfo=datetime.UTC),
                not_after=datetime.datetime(2021, 1, 1, tzinfo=datetime.UTC),
            )
        )
    )

    def refusing(**replies):
        return stack.enter_context(running_smtp_server(handler=RecordingHandler(**replies)))

    def case(port: int, **overrides) -> ProbeSettings:
        return ProbeSettings(**{**base, "port": port, **overrides})

    ssl_mode, starttls = {"security": Security.SSL}, {"security": Security.STARTTLS}
    return [
        ("host not found", case(25, host="no-such-host.invalid")),
        ("connection refused", case(free_port())),
        ("no answer (dropped)", case(stack.enter_context(blackhole_port()))),
        ("SSL/TLS on plain port", case(plain.port, **ssl_mode)),
        ("STARTTLS on TLS port", case(implicit.port, **starttls)),
        ("silent server", case(stack.enter_context(scripted_server(b"")).port)),
        ("STARTTLS not offered", case(plain.port, **starttls)),
        ("untrusted certificate", case(implicit.port, **ssl_mode)),
        ("certificate name", case(other_name.port, ca_certificate=ca_pem, **ssl_mode)),
        ("expired certificate", case(expired.port, ca_certificate=ca_pem, **starttls)),
        ("wrong password (535)", case(auth.port, username=USER, password="x")),
        ("sender rejected", case(refusing(mail_reply="553 5.7.1 Sender not owned").port)),
        ("recipient rejected", case(refusing(rcpt_reply="550 5.1.1 No such user").port)),
        ("relay denied", case(refusing(rcpt_reply="554 5.7.1 Relay access denied").port)),
        ("message too large", case(refusing(data_reply="552 5.3.4 Too big").port)),
        ("421 greeting", case(stack.enter_context(scripted_server(b"421 4.3.2 Busy\r\n")).port)),
    ]


def measure_failures(timeout: float, repeat: int) -> None:
    ca = trustme.CA()
    ca_pem = ca.cert_pem.bytes().decode()
    with ExitStack() as stack:
        cases = failure_cases(stack, ca, ca_pem, timeout)
        print(f"Time to verdict, median of {repeat} (timeout {timeout:g} s)")
        print(f"{'case':<24} {'verdict':<26} {'median ms':>10} {'max ms':>10} {'timeout ms':>11}")
        for name, settings in cases:
            times, verdict = [], ""
            for _ in range(repeat):
                started = time.perf_counter()
                report = run_probe(settings, RECIPIENT)
                times.append((time.perf_counter() - started) * 1000)
                verdict = report.diagnosis.code if report.diagnosis else "ok"
            print(
                f"{name:<24} {verdict:<26} {statistics.median(times):>10.1f} "
                f"{max(times):>10.1f} {timeout * 1000:>11.0f}"
            )


def bare_smtplib_send(port: int, message: bytes) -> None:
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
        client.login(USER, "ascii-password")
        client.sendmail("noreply@example.com", [RECIPIENT], message)


def measure_success(sends: int) -> None:
    with running_smtp_server(users={USER: "ascii-password"}) as server:
        settings = ProbeSettings(
            host="127.0.0.1",
            port=server.port,
            security=Security.NONE,
            username=USER,
            password="ascii-password",
            from_email="noreply@example.com",
            timeout=10,
            allow_plaintext_auth=True,
        )
        from smtpconfig.probe import build_test_message

        message = build_test_message(settings, RECIPIENT).message().as_bytes(linesep="\r\n")
        probe_times, bare_times = [], []
        for _ in range(20):  # warm-up, not measured
            bare_smtplib_send(server.port, message)
            run_probe(settings, RECIPIENT)
        for _ in range(sends):  # interleaved, so that drift hits both alike
            started = time.perf_counter()
            bare_smtplib_send(server.port, message)
            bare_times.append(time.perf_counter() - started)
            started = time.perf_counter()
            report = run_probe(settings, RECIPIENT)
            probe_times.append(time.perf_counter() - started)
            assert report.ok, report.summary()
    bare, probe = statistics.median(bare_times) * 1000, statistics.median(probe_times) * 1000
    print()
    print(f"Successful send with AUTH over plain SMTP, median of {sends} interleaved")
    print(f"{'bare smtplib (connect, login, sendmail, quit)':<48} {bare:>8.2f} ms")
    print(f"{'smtpconfig probe (every step timed and recorded)':<48} {probe:>8.2f} ms")
    print(f"{'overhead':<48} {probe - bare:>8.2f} ms  (ratio {probe / bare:.2f})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--timeout", type=float, default=2.0, help="profile timeout (seconds)")
    parser.add_argument("--repeat", type=int, default=5, help="runs per failure case")
    parser.add_argument("--sends", type=int, default=200, help="successful sends to compare")
    args = parser.parse_args()
    measure_failures(args.timeout, args.repeat)
    measure_success(args.sends)


if __name__ == "__main__":
    main()
