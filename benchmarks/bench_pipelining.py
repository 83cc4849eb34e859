"""What PIPELINING (RFC 2920) saves: 100 messages over one connection, with latency.

An aiosmtpd server that advertises PIPELINING (aiosmtpd takes pipelined
commands, it only does not say so; in a process of its own) sits behind a
TCP proxy that delays every piece of data by ``--delay`` ms each way (10 ms:
a 20 ms round trip, a server in the next region). Through it,
``--messages`` messages are sent over one connection (``send_messages``) by

- Django's ``smtp.EmailBackend`` (smtplib: a round trip per command),
- smtpconfig's backend with pipelining turned off (its class attribute),
- smtpconfig's backend as it ships (MAIL, RCPT and DATA in one write),

interleaved in ``--rounds`` rounds. It prints the round trip through the
proxy (a NOOP's), the median time per batch and
per message, the ratio to Django's backend, and the writes the client made
per message (counted by the proxy: 4 without pipelining, MAIL, RCPT, DATA
and the message; 2 with it). Compare ratios, not absolutes.

    .venv/bin/python benchmarks/bench_pipelining.py [--messages 100] [--rounds 3] [--delay 10]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import smtplib
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def serve(port: int) -> None:
    """The server process: aiosmtpd advertising PIPELINING on ``port`` until stdin closes."""
    from aiosmtpd.controller import Controller

    class PipeliningSink:
        async def handle_EHLO(self, server, session, envelope, hostname, responses):  # noqa: N802
            session.host_name = hostname
            return [*responses[:-1], "250-PIPELINING", responses[-1]]

        async def handle_DATA(self, server, session, envelope):  # noqa: N802
            return "250 2.0.0 OK"

    controller = Controller(PipeliningSink(), hostname="127.0.0.1", port=port)
    controller.start()
    print("ready", flush=True)
    sys.stdin.read()
    controller.stop()


class DelayingProxy:
    """A TCP proxy on 127.0.0.1 that hands on each piece of data ``delay`` seconds late.

    Latency, not bandwidth: pieces are delayed independently (each leaves
    ``delay`` after it arrived, in order), as on a long network path.
    ``client_writes`` counts the pieces the client sent (one per write it
    made, on loopback, where nothing splits or merges them).
    """

    def __init__(self, target_port: int, delay: float):
        self.target_port = target_port
        self.delay = delay
        self.client_writes = 0
        self.loop = asyncio.new_event_loop()
        self.port = 0
        started = threading.Event()
        self.thread = threading.Thread(target=self._run, args=(started,), daemon=True)
        self.thread.start()
        started.wait(10)

    def _run(self, started: threading.Event) -> None:
        asyncio.set_event_loop(self.loop)
        server = self.loop.run_until_complete(
            asyncio.start_server(self._connection, "127.0.0.1", 0)
        )
        self.port = server.sockets[0].getsockname()[1]
        started.set()
        self.loop.run_forever()

    async def _connection(self, client_reader, client_writer) -> None:
        server_reader, server_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        for sock in (client_writer, server_writer):
            sock.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        await asyncio.gather(
            self._pipe(client_reader, server_writer, from_client=True),
            self._pipe(server_reader, client_writer, from_client=False),
        )

    async def _pipe(self, reader, writer, *, from_client: bool) -> None:
        queue: asyncio.Queue = asyncio.Queue()

        async def deliver() -> None:
            while (item := await queue.get()) is not None:
                due, data = item
                await asyncio.sleep(max(0.0, due - time.monotonic()))
                writer.write(data)
                await writer.drain()
            writer.close()

        delivering = asyncio.ensure_future(deliver())
        try:
            while data := await reader.read(65536):
                if from_client:
                    self.client_writes += 1
                queue.put_nowait((time.monotonic() + self.delay, data))
        except ConnectionError:
            pass
        queue.put_nowait(None)
        await delivering


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=100, help="messages per batch")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds")
    parser.add_argument("--delay", type=float, default=10.0, help="ms added each way")
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve)
        return

    workdir = tempfile.mkdtemp(prefix="smtpconfig-bench-")
    os.environ["DATABASE_URL"] = f"sqlite:///{workdir}/bench.sqlite3"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
    import django

    django.setup()
    from django.core import mail
    from django.core.management import call_command

    from benchmarks.backends import point_both_backends_at
    from smtpconfig.transport.clients import SessionSMTP
    from tests.smtpd import free_port

    call_command("migrate", verbosity=0)
    port = free_port()
    server = subprocess.Popen(  # noqa: S603 (this interpreter, this script)
        [sys.executable, __file__, "--serve", str(port)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        if server.stdout.readline().strip() != "ready":
            raise SystemExit("the SMTP server did not start")
        proxy = DelayingProxy(port, args.delay / 1000)
        point_both_backends_at(proxy.port)
        variants = {
            "Django smtp.EmailBackend": ("django.core.mail.backends.smtp.EmailBackend", False),
            "smtpconfig, pipelining off": ("smtpconfig.backends.EmailBackend", False),
            "smtpconfig, pipelining on": ("smtpconfig.backends.EmailBackend", True),
        }

        def batch(backend: str, pipelining: bool) -> tuple[float, int]:
            SessionSMTP.pipelining = pipelining
            messages = [
                mail.EmailMessage(f"Message {n}", "Body.\n", to=["to@example.org"])
                for n in range(args.messages)
            ]
            connection = mail.get_connection(backend)
            connection.open()  # the opening is not what is measured
            writes = proxy.client_writes
            started = time.perf_counter()
            sent = connection.send_messages(messages)
            elapsed = time.perf_counter() - started
            writes = proxy.client_writes - writes
            connection.close()
            assert sent == args.messages, (backend, sent)
            return elapsed, writes

        for backend, pipelining in variants.values():
            batch(backend, pipelining)  # warm-up
        client = smtplib.SMTP("127.0.0.1", proxy.port, timeout=10)
        round_trips = []
        for _ in range(20):
            started = time.perf_counter()
            client.noop()
            round_trips.append(time.perf_counter() - started)
        client.quit()
        times: dict[str, list[float]] = {name: [] for name in variants}
        writes: dict[str, int] = {}
        for _ in range(args.rounds):
            for name, (backend, pipelining) in variants.items():
                elapsed, writes[name] = batch(backend, pipelining)
                times[name].append(elapsed)
    finally:
        SessionSMTP.pipelining = True
        server.stdin.close()
        server.wait(10)

    print(
        f"{args.messages} messages over one connection, {args.rounds} interleaved rounds, "
        f"{args.delay:g} ms added each way (round trip {2 * args.delay:g} ms), medians"
    )
    print(
        f"one round trip (NOOP) through the proxy: {1000 * statistics.median(round_trips):.1f} ms"
    )
    print(f"{'backend':<28} {'batch s':>8} {'ms/msg':>7} {'ratio':>6} {'writes/msg':>10}")
    reference = statistics.median(times["Django smtp.EmailBackend"])
    for name in variants:
        median = statistics.median(times[name])
        print(
            f"{name:<28} {median:>8.3f} {1000 * median / args.messages:>7.1f} "
            f"{reference / median:>6.2f} {writes[name] / args.messages:>10.2f}"
        )


if __name__ == "__main__":
    main()
