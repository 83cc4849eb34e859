"""PIPELINING (RFC 2920): MAIL FROM, every RCPT TO and DATA in one write, replies read together.

Against scripted servers on 127.0.0.1 that keep a transaction's state as a real server
does (DATA refused without a sender or a recipient), and record what each read from the
socket returned: commands that arrive in one read were written together.
"""

from __future__ import annotations

import os
import smtplib
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from django.core import mail

from smtpconfig.delivery.failover import may_fail_over
from smtpconfig.exceptions import ReplyTooLong
from smtpconfig.models import DeliveryLog, DeliveryOutcome, Security
from smtpconfig.transport.clients import PreconnectedSMTP
from smtpconfig.transport.session import Recorder, open_session
from smtpconfig.transport.settings import ConnectionSettings
from smtpconfig.transport.transaction import MAX_PIPELINED_COMMANDS

from .smtpd import RecordingHandler, running_smtp_server, scripted_server, slowly

GREETING = b"220 pipelining.test ESMTP\r\n"
EHLO_PIPELINING = (
    b"250-pipelining.test\r\n250-PIPELINING\r\n250-SIZE 10485760\r\n250-SMTPUTF8\r\n"
    b"250 8BITMIME\r\n"
)
EHLO_WITHOUT = b"250-plain.test\r\n250-SIZE 10485760\r\n250 8BITMIME\r\n"
SENDER = "noreply@example.com"
TO = ["one@example.org", "two@example.org"]
BODY = b"Subject: Pipelined\r\n\r\nThe body.\r\n"
NO_SUCH_USER = b"550 5.1.1 No such user\r\n"
COMMAND_WORDS = {b"EHLO", b"HELO", b"MAIL", b"RCPT", b"DATA", b"RSET", b"NOOP", b"QUIT"}


class Transaction:
    """MAIL, RCPT, DATA and RSET answered as a server that keeps the transaction's state.

    ``refused`` maps an address (sender or recipient) to the reply that refuses it.
    Without an accepted sender, RCPT and DATA get 503; without an accepted recipient,
    DATA gets 554 (what Postfix answers to a pipelined DATA after a refusal).
    """

    def __init__(
        self,
        *,
        refused: dict[str, bytes] | None = None,
        data_reply: bytes = b"354 End data with <CR><LF>.<CR><LF>\r\n",
        ehlo: bytes = EHLO_PIPELINING,
    ):
        self.refused = {address.encode(): reply for address, reply in (refused or {}).items()}
        self.data_reply = data_reply
        self.ehlo = ehlo
        self.sender = False
        self.recipients = 0

    def replies(self) -> dict:
        return {
            b"EHLO": self.ehlo,
            b"MAIL": self._answer(self._mail),
            b"RCPT": self._answer(self._rcpt),
            b"DATA": self._answer(self._data),
            b"RSET": self._answer(self._rset),
            b"NOOP": b"250 2.0.0 OK\r\n",
            b"QUIT": b"221 2.0.0 Bye\r\n",
        }

    @staticmethod
    def _answer(decide):
        def act(connection: socket.socket, line: bytes, stop: threading.Event) -> bytes:
            reply = decide(line)
            connection.sendall(reply)
            return reply

        return act

    @staticmethod
    def _address(line: bytes) -> bytes:
        return line.partition(b"<")[2].partition(b">")[0]

    def _mail(self, line: bytes) -> bytes:
        self.recipients = 0
        reply = self.refused.get(self._address(line), b"250 2.1.0 OK\r\n")
        self.sender = reply.startswith(b"250")
        return reply

    def _rcpt(self, line: bytes) -> bytes:
        if not self.sender:
            return b"503 5.5.1 Error: need MAIL command\r\n"
        reply = self.refused.get(self._address(line), b"250 2.1.5 OK\r\n")
        self.recipients += reply.startswith(b"250")
        return reply

    def _data(self, line: bytes) -> bytes:
        if not self.sender:
            return b"503 5.5.1 Error: need RCPT command\r\n"
        if not self.recipients:
            return b"554 5.5.1 Error: no valid recipients\r\n"
        self.sender = False  # the message ends the transaction
        return self.data_reply

    def _rset(self, line: bytes) -> bytes:
        self.sender, self.recipients = False, 0
        return b"250 2.0.0 OK\r\n"


def serve(transaction: Transaction | None = None, **kwargs):
    transaction = transaction or Transaction()
    return scripted_server(GREETING, transaction.replies(), **kwargs)


def connect(port: int, timeout: float = 5) -> smtplib.SMTP:
    settings = ConnectionSettings(
        host="127.0.0.1", port=port, security=Security.NONE, timeout=timeout
    )
    return open_session(settings, recorder=Recorder())


def writes(server) -> list[list[bytes]]:
    """The first word of each command line, grouped by the read that brought them."""
    groups = []
    for chunk in server.chunks:
        words = [line.split(b" ")[0].upper() for line in chunk.split(b"\r\n")[:-1]]
        if words and words[0] in COMMAND_WORDS:
            groups.append(words)
    return groups


def envelope_writes(server) -> list[list[bytes]]:
    return [group for group in writes(server) if set(group) & {b"MAIL", b"RCPT", b"DATA"}]


def test_envelope_goes_in_one_write_and_the_message_is_received_once():
    with serve() as server:
        client = connect(server.port)
        try:
            assert client.offers_pipelining()
            assert client.sendmail(SENDER, TO, BODY) == {}
            assert client.payload_sent
            assert client.last_data_reply[0] == 250
        finally:
            client.quit()
    assert envelope_writes(server) == [[b"MAIL", b"RCPT", b"RCPT", b"DATA"]]
    assert len(server.received) == 1 and b"The body." in server.received[0]
    mail_line = next(line for line in server.commands if line.startswith(b"MAIL"))
    assert mail_line == f"MAIL FROM:<{SENDER}> size={len(BODY)}".encode()


def test_mixed_recipients_return_the_refused_ones_and_the_message_goes_to_the_others():
    transaction = Transaction(refused={"two@example.org": NO_SUCH_USER})
    with serve(transaction) as server:
        client = connect(server.port)
        try:
            refused = client.sendmail(SENDER, [*TO, "three@example.org"], BODY)
        finally:
            client.quit()
    assert refused == {"two@example.org": (550, b"5.1.1 No such user")}
    assert envelope_writes(server) == [[b"MAIL", b"RCPT", b"RCPT", b"RCPT", b"DATA"]]
    assert len(server.received) == 1


def test_refused_sender_raises_discards_the_data_reply_and_the_next_message_goes_through():
    """The server answers the pipelined DATA with 503; the client reads that reply, sends
    RSET, and the same connection carries the next message."""
    transaction = Transaction(refused={"bad@example.com": b"553 5.7.1 Sender not allowed\r\n"})
    with serve(transaction) as server:
        client = connect(server.port)
        try:
            with pytest.raises(smtplib.SMTPSenderRefused) as refusal:
                client.sendmail("bad@example.com", TO, BODY)
            assert (refusal.value.smtp_code, refusal.value.sender) == (553, "bad@example.com")
            assert refusal.value.smtp_error == b"5.7.1 Sender not allowed"
            assert not client.payload_sent
            assert client.sendmail(SENDER, TO, BODY) == {}
        finally:
            client.quit()
    assert envelope_writes(server)[0] == [b"MAIL", b"RCPT", b"RCPT", b"DATA"]
    assert [line.split(b" ")[0].upper() for line in server.commands[1:7]] == [
        b"MAIL",
        b"RCPT",
        b"RCPT",
        b"DATA",
        b"RSET",
        b"MAIL",
    ]
    assert len(server.received) == 1  # the second message only


def test_every_recipient_refused_raises_recipients_refused_and_keeps_the_connection():
    transaction = Transaction(
        refused={address: NO_SUCH_USER for address in TO}
        | {"three@example.org": b"450 4.2.1 Mailbox busy\r\n"}
    )
    with serve(transaction) as server:
        client = connect(server.port)
        try:
            with pytest.raises(smtplib.SMTPRecipientsRefused) as refusal:
                client.sendmail(SENDER, [*TO, "three@example.org"], BODY)
            assert client.noop()[0] == 250  # in step: the 554 to DATA was read
        finally:
            client.quit()
    assert refusal.value.recipients == {
        "one@example.org": (550, b"5.1.1 No such user"),
        "two@example.org": (550, b"5.1.1 No such user"),
        "three@example.org": (450, b"4.2.1 Mailbox busy"),
    }
    assert not may_fail_over(refusal.value, False)  # permanent for two of them
    assert b"RSET" in [line.split(b" ")[0].upper() for line in server.commands]
    assert server.received == []


def test_temporary_refusal_of_data_raises_its_code_and_may_fail_over():
    transaction = Transaction(data_reply=b"451 4.3.0 Try again later\r\n")
    with serve(transaction) as server:
        client = connect(server.port)
        try:
            with pytest.raises(smtplib.SMTPDataError) as refusal:
                client.sendmail(SENDER, TO, BODY)
            assert refusal.value.smtp_code == 451
            assert not client.payload_sent
            assert may_fail_over(refusal.value, client.payload_sent)
            assert client.noop()[0] == 250
        finally:
            client.quit()
    assert server.received == []


def test_permanent_refusal_after_the_message_raises_and_may_not_fail_over():
    with serve(after_data=b"554 5.7.1 Rejected as spam\r\n") as server:
        client = connect(server.port)
        try:
            with pytest.raises(smtplib.SMTPDataError) as refusal:
                client.sendmail(SENDER, TO, BODY)
            assert refusal.value.smtp_code == 554
            assert client.payload_sent
            assert not may_fail_over(refusal.value, client.payload_sent)
            assert client.last_data_reply == (554, b"5.7.1 Rejected as spam")
        finally:
            client.quit()
    assert len(server.received) == 1  # it did reach the server


def test_without_pipelining_each_command_is_written_on_its_own():
    with serve(Transaction(ehlo=EHLO_WITHOUT)) as server:
        client = connect(server.port)
        try:
            assert not client.offers_pipelining()
            assert client.sendmail(SENDER, TO, BODY) == {}
            assert client.payload_sent
        finally:
            client.quit()
    assert envelope_writes(server) == [[b"MAIL"], [b"RCPT"], [b"RCPT"], [b"DATA"]]
    assert len(server.received) == 1


def test_the_pipelining_switch_off_writes_each_command_on_its_own():
    with serve() as server:
        client = connect(server.port)
        client.pipelining = False
        try:
            assert client.sendmail(SENDER, TO, BODY) == {}
        finally:
            client.quit()
    assert envelope_writes(server) == [[b"MAIL"], [b"RCPT"], [b"RCPT"], [b"DATA"]]


def test_many_recipients_go_in_bounded_writes_each_read_before_the_next():
    recipients = [f"r{number}@example.org" for number in range(150)]
    with serve() as server:
        client = connect(server.port)
        try:
            assert client.sendmail(SENDER, recipients, BODY) == {}
        finally:
            client.quit()
    sizes = [len(group) for group in envelope_writes(server)]
    assert sizes == [MAX_PIPELINED_COMMANDS, 152 - MAX_PIPELINED_COMMANDS]
    assert len(server.received) == 1


def test_smtputf8_addresses_are_pipelined_in_utf8():
    with serve() as server:
        client = connect(server.port)
        try:
            client.sendmail("jörg@example.com", ["zoë@example.org"], BODY, ["SMTPUTF8"])
        finally:
            client.quit()
    assert f"MAIL FROM:<jörg@example.com> size={len(BODY)} SMTPUTF8".encode() in server.commands
    assert "RCPT TO:<zoë@example.org>".encode() in server.commands
    assert envelope_writes(server) == [[b"MAIL", b"RCPT", b"DATA"]]


@pytest.mark.parametrize("dropped_at", [b"MAIL", b"DATA"])
def test_connection_dropped_after_the_batch_counts_as_not_sent(dropped_at):
    """The server reads the pipelined batch and hangs up before its 354: the message
    cannot be there, so it may go to another server."""
    replies = Transaction().replies()
    del replies[dropped_at]  # a command with no reply ends the connection
    with scripted_server(GREETING, replies) as server:
        client = connect(server.port)
        with pytest.raises(smtplib.SMTPServerDisconnected) as broken:
            client.sendmail(SENDER, TO, BODY)
    assert envelope_writes(server)[0] == [b"MAIL", b"RCPT", b"RCPT", b"DATA"]
    assert not client.payload_sent
    assert client.last_command == dropped_at.decode().lower()
    assert may_fail_over(broken.value, client.payload_sent)
    assert server.received == []


def test_each_pipelined_reply_is_bounded_by_the_timeout():
    replies = Transaction().replies()
    replies[b"DATA"] = slowly(b"354 Go ahead\r\n", 30)
    with scripted_server(GREETING, replies) as server:
        client = connect(server.port, timeout=0.5)
        with pytest.raises(smtplib.SMTPServerDisconnected):
            client.sendmail(SENDER, TO, BODY)
    assert client.sock is None and not client.payload_sent
    assert client.last_command == "data"


def test_an_oversized_pipelined_reply_is_cut_and_the_connection_closed():
    replies = Transaction().replies()
    replies[b"RCPT"] = b"250-OK\r\n" * 500 + b"250 OK\r\n"
    with scripted_server(GREETING, replies) as server:
        client = connect(server.port)
        with pytest.raises(ReplyTooLong):
            client.sendmail(SENDER, TO, BODY)
    assert client.sock is None and not client.payload_sent


def test_a_transcript_records_each_pipelined_command_and_the_message_by_its_size():
    with serve() as server:
        sock = socket.create_connection(("127.0.0.1", server.port), timeout=5)
        client = PreconnectedSMTP(sock, server_hostname="127.0.0.1", timeout=5)
        client.connect("127.0.0.1", server.port)
        try:
            client.sendmail(SENDER, TO, BODY)
        finally:
            client.quit()
    sent = [entry for entry in client.transcript if entry.startswith("C: ")]
    assert sent[1:6] == [
        f"C: MAIL FROM:<{SENDER}> size={len(BODY)}",
        "C: RCPT TO:<one@example.org>",
        "C: RCPT TO:<two@example.org>",
        "C: DATA",
        f"C: <message, {len(BODY) + 3} bytes>",
    ]


class PipeliningHandler(RecordingHandler):
    """aiosmtpd takes pipelined commands but does not say so: this one says PIPELINING,
    refuses one sender and one recipient, and records the rest."""

    async def handle_EHLO(self, server, session, envelope, hostname, responses):  # noqa: N802
        session.host_name = hostname
        return [*responses[:-1], "250-PIPELINING", responses[-1]]

    async def handle_MAIL(self, server, session, envelope, address, mail_options):  # noqa: N802
        if address == "bad@example.com":
            return "553 5.7.1 Sender not allowed"
        return await super().handle_MAIL(server, session, envelope, address, mail_options)

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: N802
        if address == "two@example.org":
            return "550 5.1.1 No such user"
        return await super().handle_RCPT(server, session, envelope, address, rcpt_options)


def test_a_real_server_takes_pipelined_transactions_with_refusals_on_one_connection():
    """aiosmtpd's own state machine: a refused recipient, a refused sender (its 503s to
    the pipelined RCPT and DATA read and passed by), then a message accepted."""
    with running_smtp_server(handler=PipeliningHandler()) as server:
        client = connect(server.port)
        try:
            assert client.offers_pipelining()
            assert client.sendmail(SENDER, TO, BODY) == {
                "two@example.org": (550, b"5.1.1 No such user")
            }
            with pytest.raises(smtplib.SMTPSenderRefused):
                client.sendmail("bad@example.com", TO, BODY)
            with pytest.raises(smtplib.SMTPRecipientsRefused):
                client.sendmail(SENDER, ["two@example.org"], BODY)
            assert client.sendmail(SENDER, ["one@example.org"], BODY) == {}
        finally:
            client.quit()
    assert [message.rcpt_tos for message in server.messages] == [
        ["one@example.org"],
        ["one@example.org"],
    ]


# Through the site's backend.


@pytest.mark.django_db
@pytest.mark.usefixtures("use_backend")
def test_backend_sends_pipelined_and_logs_the_message_sent(make_profile):
    with serve() as server:
        make_profile(name="Pipelined", port=server.port)
        assert mail.send_mail("Hello", "Body", None, TO) == 1
    assert envelope_writes(server) == [[b"MAIL", b"RCPT", b"RCPT", b"DATA"]]
    assert len(server.received) == 1
    row = DeliveryLog.objects.get()
    assert (row.outcome, row.profile_name) == (DeliveryOutcome.SENT, "Pipelined")
    assert row.reply.startswith("250")


@pytest.mark.django_db
@pytest.mark.usefixtures("use_backend")
def test_backend_fails_over_when_the_connection_drops_before_the_354(make_profile):
    replies = Transaction().replies()
    del replies[b"DATA"]
    with scripted_server(GREETING, replies) as dropping, running_smtp_server() as good:
        make_profile(name="Dropping", port=dropping.port, priority=1, is_default=False)
        make_profile(name="Good", port=good.port, priority=2, is_default=False)
        assert mail.send_mail("Hello", "Body", None, TO) == 1
        assert dropping.received == [] and len(good.messages) == 1
    row = DeliveryLog.objects.get()
    assert (row.outcome, row.profile_name) == (DeliveryOutcome.FAILED_OVER, "Good")
    assert [(tried["profile"], tried["step"]) for tried in row.tried] == [("Dropping", "data")]


@pytest.mark.django_db
@pytest.mark.usefixtures("use_backend")
def test_backend_sends_the_next_message_on_the_same_connection_after_a_refused_sender(
    make_profile,
):
    transaction = Transaction(refused={"bad@example.com": b"553 5.7.1 Sender not allowed\r\n"})
    with serve(transaction) as server:
        make_profile(name="Pipelined", port=server.port)
        messages = [
            mail.EmailMessage("Refused", "Body", "bad@example.com", TO),
            mail.EmailMessage("Accepted", "Body", None, TO),
        ]
        assert mail.get_connection(fail_silently=True).send_messages(messages) == 1
    assert len(server.connections) == 1 and len(server.received) == 1
    outcomes = sorted(DeliveryLog.objects.values_list("subject", "outcome"))
    assert outcomes == [("Accepted", DeliveryOutcome.SENT), ("Refused", DeliveryOutcome.FAILED)]


# The benchmark.


def test_the_benchmark_runs_and_pipelining_halves_the_client_writes():
    """Its timings are not checked; the writes per message the proxy counted are."""
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings"}
    env.pop("DATABASE_URL", None)  # the script makes its own SQLite database
    result = subprocess.run(
        [sys.executable, "benchmarks/bench_pipelining.py", "--messages", "3", "--rounds", "1"],
        cwd=Path(__file__).resolve().parent.parent,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    writes = {
        line.rsplit(None, 4)[0]: line.split()[-1]
        for line in result.stdout.splitlines()
        if line.startswith(("Django", "smtpconfig"))
    }
    assert writes["smtpconfig, pipelining off"] == "4.00"
    assert writes["smtpconfig, pipelining on"] == "2.00"
    assert "Django smtp.EmailBackend" in writes
