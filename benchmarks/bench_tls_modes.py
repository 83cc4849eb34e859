"""Implicit TLS (465) against STARTTLS (587): what a new connection costs a round trip away.

Why the provider presets choose port 465 where the provider offers both. Two
aiosmtpd servers in their own processes, the same certificate authority, AUTH
and PIPELINING: one speaks TLS from the first byte, the other requires
STARTTLS. In front of each, a TCP proxy on 127.0.0.1 (its own process) holds
every piece of data ``--delay`` ms each way and a new connection as long as
TCP's handshake would (benchmarks/servers.py).

Each ``send_mail()`` opens a new connection (smtpconfig's pool off, and
Django's backend, which always does), so every message pays the whole
opening: TCP, greeting, EHLO, [STARTTLS, TLS handshake, EHLO again], AUTH,
then the message and QUIT. Both modes and both backends run interleaved in
``--rounds`` rounds; it prints the median milliseconds per message and, last,
``implicit TLS saves X% per new connection`` (smtpconfig's figures).

    .venv/bin/python benchmarks/bench_tls_modes.py [--delay 10] [--calls 10] [--rounds 5]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from contextlib import ExitStack
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

# per_call: send_mail() calls, each with a backend of its own; with the pool off, each
# opens its own connection.
from benchmarks.bench_rtt import (  # noqa: E402
    BACKENDS,
    DJANGO_BACKEND,
    SENDER,
    per_call,
    setup_django,
)
from benchmarks.servers import PASSWORD, USER, delaying_proxy, tls_server  # noqa: E402

MODES = ("starttls", "ssl")
LABELS = {"starttls": "STARTTLS (587)", "ssl": "implicit TLS (465)"}


def use(mode: str, port: int, ca_path: Path) -> None:
    """Both backends to 127.0.0.1:``port`` in ``mode``; smtpconfig's pool off."""
    from django.conf import settings

    from smtpconfig.models import SMTPProfile

    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", port
    settings.EMAIL_USE_TLS, settings.EMAIL_USE_SSL = mode == "starttls", mode == "ssl"
    # Django's implicit-TLS backend trusts the system's store too: SSL_CERT_FILE is the CA.
    settings.SMTPCONFIG = {**settings.SMTPCONFIG, "POOL": False, "DELIVERY_LOG": False}
    SMTPProfile.objects.all().delete()
    profile = SMTPProfile(
        name=f"Bench {mode}",
        host="127.0.0.1",
        port=port,
        security=mode,
        username=USER,
        from_email=SENDER,
        ca_certificate=ca_path.read_text(),
        timeout=10,
        is_default=True,
    )
    profile.password = PASSWORD
    profile.save()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--delay", type=float, default=10.0, help="ms added each way")
    parser.add_argument("--calls", type=int, default=10, help="send_mail() calls per round")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds")
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="smtpconfig-bench-"))
    (workdir / "ssl").mkdir()
    with ExitStack() as stack:
        # One CA for both servers (the second writes over the first's files otherwise).
        starttls_port, ca_path = stack.enter_context(tls_server(workdir, pipelining=True))
        ports = {"starttls": starttls_port}
        ssl_dir = workdir / "ssl"
        ssl_port, ssl_ca = stack.enter_context(tls_server(ssl_dir, pipelining=True, implicit=True))
        ports["ssl"] = ssl_port
        cas = {"starttls": ca_path, "ssl": ssl_ca}
        proxies = {
            mode: stack.enter_context(delaying_proxy(port, args.delay / 1000, each_way=True))
            for mode, port in ports.items()
        }
        # Django's backend trusts one store: a bundle of both CAs.
        bundle = workdir / "bundle.pem"
        bundle.write_text(ca_path.read_text() + ssl_ca.read_text())
        setup_django(str(workdir), bundle)

        times: dict[tuple[str, str], list[float]] = {}
        for mode in MODES:  # warm-up: imports, TLS contexts
            use(mode, proxies[mode], cas[mode])
            for _, backend in BACKENDS:
                per_call(backend, 1)
        for _ in range(args.rounds):
            for mode in MODES:
                use(mode, proxies[mode], cas[mode])
                for name, backend in BACKENDS:
                    times.setdefault((mode, name), []).append(per_call(backend, args.calls))

    print(
        f"AUTH + PIPELINING servers (aiosmtpd) behind proxies adding {args.delay:g} ms each way; "
        f"a new connection per send_mail(); {args.rounds} interleaved rounds of {args.calls}, "
        "medians"
    )
    print(f"{'mode':<20} {'backend':<26} {'ms/msg':>8}")
    per_message = {}
    for mode in MODES:
        for name, backend in BACKENDS:
            value = 1000 * statistics.median(times[(mode, name)]) / args.calls
            per_message[(mode, name)] = value
            label = "Django smtp.EmailBackend" if backend == DJANGO_BACKEND else "smtpconfig"
            print(f"{LABELS[mode]:<20} {label:<26} {value:>8.1f}")
    for name, _ in BACKENDS:
        saved = 1 - per_message[("ssl", name)] / per_message[("starttls", name)]
        print(f"{name}: implicit TLS takes {100 * saved:.0f}% less per new connection")
    saved = 1 - per_message[("ssl", "smtpconfig")] / per_message[("starttls", "smtpconfig")]
    print(f"implicit TLS saves {100 * saved:.0f}% per new connection")


if __name__ == "__main__":
    main()
