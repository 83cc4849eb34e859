"""Servers the benchmarks send to, each in a process of its own (none needs Django).

In the benchmark's own process a server would compete for the GIL and amplify
every microsecond the client spends, so each runs as this script in a child
process:

- ``sink()``: aiosmtpd's stock ``Sink`` handler (``python -m aiosmtpd``), plain
  SMTP, no login;
- ``smtp``: aiosmtpd with STARTTLS required (a certificate for 127.0.0.1 from
  a throw-away CA) and AUTH PLAIN/LOGIN required after it, discarding what it
  receives: the conversation a provider's submission port has (with
  ``--pipelining`` it also advertises PIPELINING, as providers do: aiosmtpd
  takes pipelined commands, it only does not say so);
- ``proxy``: a TCP proxy on 127.0.0.1 that holds every chunk the server sends
  for ``--delay`` seconds before passing it on (chunks keep their order and
  are not serialised: a delay line). So every reply, the greeting and each
  TLS handshake message from the server arrive ``delay`` later: ``delay`` is
  added to each round trip, what a server that much further away would add.
  The client's data goes through at once, and the TCP connection to the proxy
  itself is immediate (a real one costs one more round trip). With
  ``--each-way`` the client's data is held ``delay`` too (a round trip costs
  twice ``delay``), and so is the connection, as TCP's handshake would (the
  greeting arrives two round trips after the client starts to connect).
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

_SELF = str(Path(__file__).resolve())
#: The login the ``smtp`` server accepts.
USER, PASSWORD = "bench@example.com", "bench-password"  # ASCII: Django's backend sends ASCII only


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), 0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"nothing started on port {port}")


@contextmanager
def _process(*args: str, port: int):
    child = subprocess.Popen(  # noqa: S603 (this interpreter, fixed arguments)
        [sys.executable, *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_port(port)
        yield port
    finally:
        child.terminate()
        child.wait(10)


@contextmanager
def sink():
    """A plain aiosmtpd Sink in its own process; yields its port."""
    port = free_port()
    with _process("-m", "aiosmtpd", "-n", "-l", f"127.0.0.1:{port}",
                  "-c", "aiosmtpd.handlers.Sink", port=port):  # fmt: skip
        yield port


@contextmanager
def tls_server(certificate_dir: Path, *, pipelining: bool = False, implicit: bool = False):
    """An aiosmtpd server requiring STARTTLS and AUTH, in its own process; yields
    ``(port, ca_pem_path)`` (the CA that signed its certificate for 127.0.0.1). With
    ``pipelining`` it advertises PIPELINING; with ``implicit`` it speaks TLS from the
    first byte (as on port 465) instead of offering STARTTLS."""
    import trustme

    ca = trustme.CA()
    ca_path, chain_path = certificate_dir / "ca.pem", certificate_dir / "server.pem"
    ca.cert_pem.write_to_path(str(ca_path))
    ca.issue_cert("127.0.0.1", "localhost").private_key_and_cert_chain_pem.write_to_path(
        str(chain_path)
    )
    port = free_port()
    extra = (["--pipelining"] if pipelining else []) + (["--implicit-tls"] if implicit else [])
    with _process(_SELF, "smtp", "--port", str(port), "--certificate", str(chain_path), *extra,
                  port=port):  # fmt: skip
        yield port, ca_path


@contextmanager
def delaying_proxy(target_port: int, delay: float, *, each_way: bool = False):
    """A delaying TCP proxy to ``target_port`` in its own process; yields its port.
    ``each_way``: the client's data and the connection are delayed too."""
    port = free_port()
    extra = ["--each-way"] if each_way else []
    with _process(_SELF, "proxy", "--port", str(port), "--target", str(target_port),
                  "--delay", str(delay), *extra, port=port):  # fmt: skip
        yield port


# The servers themselves (run in the child process).


def _serve_smtp(
    port: int, certificate: str, pipelining: bool = False, implicit: bool = False
) -> None:
    import logging
    import ssl

    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult, LoginPassword

    logging.getLogger("mail.log").setLevel(logging.CRITICAL)

    class Discard:
        async def handle_DATA(self, server, session, envelope):  # noqa: N802
            return "250 2.0.0 Ok: queued"

    class PipeliningDiscard(Discard):
        async def handle_EHLO(self, server, session, envelope, hostname, responses):  # noqa: N802
            session.host_name = hostname
            return [*responses[:-1], "250-PIPELINING", responses[-1]]

    def authenticate(server, session, envelope, mechanism, auth_data):
        ok = isinstance(auth_data, LoginPassword) and (
            auth_data.login.decode() == USER and auth_data.password.decode() == PASSWORD
        )
        return AuthResult(success=ok, handled=False)

    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(certificate)
    # Implicit TLS: the whole session is encrypted, so there is no STARTTLS to require (and
    # aiosmtpd's auth_require_tls only knows STARTTLS: it would hide AUTH).
    if implicit:
        tls = {"ssl_context": context, "auth_require_tls": False}
    else:
        tls = {"tls_context": context, "require_starttls": True, "auth_require_tls": True}
    Controller(
        PipeliningDiscard() if pipelining else Discard(),
        hostname="127.0.0.1",
        port=port,
        server_hostname="smtp.test",
        authenticator=authenticate,
        **tls,
    ).start()
    _wait_forever()


def _wait_forever() -> None:
    while True:
        time.sleep(3600)


async def _pipe(reader, writer, delay: float) -> None:
    """Copy ``reader`` to ``writer``, each chunk ``delay`` seconds after it arrived."""
    loop = asyncio.get_running_loop()
    line: asyncio.Queue = asyncio.Queue()

    async def feed():
        while True:
            try:
                data = await reader.read(65536)
            except OSError:
                data = b""
            await line.put((loop.time() + delay, data))
            if not data:
                return

    feeder = asyncio.ensure_future(feed())
    try:
        while True:
            due, data = await line.get()
            if due > loop.time():
                await asyncio.sleep(due - loop.time())
            if not data:
                break
            writer.write(data)
            await writer.drain()
    except OSError:
        pass
    finally:
        feeder.cancel()
        writer.close()


def _serve_proxy(port: int, target: int, delay: float, each_way: bool = False) -> None:
    async def handle(client_reader, client_writer):
        if each_way:
            # SYN, SYN-ACK, ACK: the server learns of the connection 1.5 round trips in.
            await asyncio.sleep(3 * delay)
        try:
            server_reader, server_writer = await asyncio.open_connection("127.0.0.1", target)
        except OSError:
            client_writer.close()
            return
        for sock in (client_writer, server_writer):
            sock.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        await asyncio.gather(
            _pipe(client_reader, server_writer, delay if each_way else 0.0),
            _pipe(server_reader, client_writer, delay),
        )

    async def serve():
        server = await asyncio.start_server(handle, "127.0.0.1", port)
        async with server:
            await server.serve_forever()

    asyncio.run(serve())


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("kind", choices=["smtp", "proxy"])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--certificate", help="smtp: PEM with the key and certificate chain")
    parser.add_argument("--target", type=int, help="proxy: the port it forwards to")
    parser.add_argument("--delay", type=float, default=0.0, help="proxy: seconds per reply")
    parser.add_argument("--each-way", action="store_true", help="proxy: delay both ways")
    parser.add_argument("--pipelining", action="store_true", help="smtp: advertise PIPELINING")
    parser.add_argument("--implicit-tls", action="store_true", help="smtp: TLS from the start")
    args = parser.parse_args()
    if args.kind == "smtp":
        _serve_smtp(args.port, args.certificate, args.pipelining, args.implicit_tls)
    else:
        _serve_proxy(args.port, args.target, args.delay, args.each_way)
