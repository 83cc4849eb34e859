"""A test: the transport's one road to the server, with a recorder, then the envelope.

:func:`run_probe` opens a session through :func:`~smtpconfig.transport.session.open_session`
(the same resolve, connect, TLS, EHLO and login as the site's mail) with a
:class:`ProbeRecorder` that times each step and keeps what the server said,
then sends MAIL, RCPT and (unless ``send=False``) the test message. The first
failure stops it, and :func:`~smtpconfig.diagnosis.diagnose` explains it. It
never touches the database and never raises for a network or SMTP failure.
"""

from __future__ import annotations

import contextlib
import re
import smtplib
import ssl
import time
from collections.abc import Iterator

from django.core.mail.message import sanitize_address
from django.utils.translation import gettext as _

from ..diagnosis import diagnose
from ..exceptions import MessageTooLarge, RecipientRefused, ReplyTooLong, SMTPProtocolError
from ..transport.clients import (
    MAX_TRANSCRIPT_ENTRIES,
    TRANSCRIPT_CUT,
    PreconnectedSMTP,
)
from ..transport.deadline import Budget, conversation_budget, guarded
from ..transport.network import addrinfo, connect, resolve
from ..transport.session import Recorder, StepNote, open_session
from ..transport.settings import ConnectionSettings, Security
from ..transport.steps import Step, StepFailed, describe_error, reply_text
from ..transport.tls import client_context, describe_certificate
from .message import build_test_message
from .report import ProbeReport, StepResult

_QUEUE_ID = re.compile(r"queued as\s+([A-Za-z0-9._-]+)|\bid=([A-Za-z0-9._-]+)", re.IGNORECASE)


def _capabilities(client: smtplib.SMTP) -> list[str]:
    """EHLO keywords with their parameters, such as ``AUTH PLAIN LOGIN`` or ``SIZE 35882577``."""
    return sorted(
        f"{name.upper()} {value.strip()}".strip() for name, value in client.esmtp_features.items()
    )


#: Between two connections' transcripts (a login retried on a new connection).
RECONNECTED = "-- new connection --"


class ProbeRecorder(Recorder):
    """Times each step and keeps what it found in ``report``; records a transcript."""

    client_class = PreconnectedSMTP

    def __init__(self, report: ProbeReport):
        self.report = report
        #: The address the conversation connected to (a certificate's names are checked
        #: against it before one is suggested as the server name).
        self.address = ""
        #: Every client of the conversation, oldest first (a login retried with a fresh
        #: token may reconnect); kept for their transcripts, also when the session fails.
        self.clients: list[smtplib.SMTP] = []

    @property
    def client(self) -> smtplib.SMTP | None:
        return self.clients[-1] if self.clients else None

    def attached(self, client: smtplib.SMTP) -> None:
        self.clients.append(client)

    def transcript(self) -> tuple[list[str], bool]:
        """The transcripts of every connection, one after the other, and whether cut."""
        entries: list[str] = []
        cut = False
        for number, client in enumerate(self.clients):
            if number:
                entries.append(RECONNECTED)
            entries.extend(getattr(client, "transcript", []))
            cut = cut or bool(getattr(client, "transcript_cut", False))
        if len(entries) > MAX_TRANSCRIPT_ENTRIES:
            entries, cut = entries[: MAX_TRANSCRIPT_ENTRIES - 1] + [TRANSCRIPT_CUT], True
        return entries, cut

    @contextlib.contextmanager
    def step(self, step: Step) -> Iterator[StepNote]:
        note = StepNote()
        started = time.perf_counter()
        result = StepResult(name=step.value)
        try:
            yield note
        except Exception as exc:  # noqa: BLE001 - every failure becomes a verdict, never a 500
            result.ok = False
            if isinstance(exc, smtplib.SMTPResponseException) and not isinstance(
                exc, SMTPProtocolError
            ):
                result.reply_code, result.reply = exc.smtp_code, reply_text(exc.smtp_error)
            result.detail = describe_error(exc)
            self.report.exception = exc
            raise StepFailed(step, exc) from exc
        else:
            result.ok = True
            result.detail = note.detail or (
                f"{note.reply_code} {note.reply}".strip() if note.reply_code else ""
            )
            result.reply_code, result.reply = note.reply_code, note.reply
        finally:
            result.duration = time.perf_counter() - started
            self.report.steps.append(result)

    def resolved(self, addresses: list[str]) -> None:
        self.report.addresses = addresses

    def connected(self, address: str, failures: list[str]) -> None:
        self.address = str(address)

    def tls_established(self, sock: ssl.SSLSocket) -> str:
        report = self.report
        cipher = sock.cipher()
        report.tls = {"version": sock.version() or "", "cipher": cipher[0] if cipher else ""}
        report.certificate = describe_certificate(sock.getpeercert(binary_form=True))
        detail = _("%(version)s, %(cipher)s") % report.tls
        if report.certificate.get("subject"):
            detail += "; " + (
                _("certificate for %(subject)s issued by %(issuer)s") % report.certificate
            )
        if report.certificate.get("note"):
            detail += "; " + report.certificate["note"]
        return detail

    def greeted(self, client: smtplib.SMTP, greeting: str = "") -> str:
        self.report.capabilities = _capabilities(client)
        return _("%(greeting)s; offers: %(capabilities)s") % {
            "greeting": greeting,
            "capabilities": ", ".join(self.report.capabilities) or _("nothing (HELO only)"),
        }

    def logged_in(self, client: smtplib.SMTP, username: str) -> str:
        self.report.auth_mechanism = client.auth_mechanism or ""
        return _("logged in as %(user)s with %(mechanism)s") % {
            "user": username,
            "mechanism": self.report.auth_mechanism,
        }


def run_probe(settings: ConnectionSettings, recipient: str, *, send: bool = True) -> ProbeReport:
    """Hold one SMTP conversation and return what happened.

    Never raises for a network, TLS or SMTP failure: the report says which
    step failed, with the server's reply and a diagnosis. Every wait is
    bounded by ``settings.timeout`` and the whole test by one budget,
    :func:`~smtpconfig.transport.deadline.conversation_budget`. With
    ``send=False`` the conversation ends politely after RCPT TO, so nothing
    is delivered.
    """
    report = ProbeReport(
        host=settings.host,
        port=settings.port,
        security=settings.security,
        recipient=recipient,
        send=send,
    )
    started = time.perf_counter()
    budget = Budget.start(conversation_budget(float(settings.timeout)), "test")
    recorder = ProbeRecorder(report)
    client = None
    try:
        client = open_session(settings, recorder=recorder, budget=budget)
        _envelope(client, recorder, settings, recipient, send)
        report.ok = True
    except StepFailed as failure:
        if isinstance(failure.error, ssl.SSLCertVerificationError):
            # Show the certificate that failed (its names, its dates): read it again
            # without verifying, on a new connection that sends nothing else.
            report.certificate = (
                _fetch_certificate(settings, budget, report.addresses) or report.certificate
            )
        step = report.failed_step
        report.diagnosis = diagnose(
            failure.step,
            failure.error,
            settings,
            detail=step.detail if step else "",
            certificate=report.certificate,
            recipient=recipient,
            address=recorder.address,
        )
    finally:
        if client is not None:
            _end(client, report)
        if recorder.clients:
            report.transcript, report.cut = recorder.transcript()
        report.cut = report.cut or isinstance(report.exception, ReplyTooLong)
        report.duration = time.perf_counter() - started
    return report


def _end(client: smtplib.SMTP, report: ProbeReport) -> None:
    """QUIT where the session still stands (after success, or a refused sender or
    recipient); a broken connection is simply closed."""
    polite = report.ok or (
        isinstance(report.exception, smtplib.SMTPResponseException)
        and not isinstance(report.exception, SMTPProtocolError)
    )
    try:
        if polite:
            client.quit()
    except (OSError, smtplib.SMTPException):
        pass
    client.close()


def _envelope(
    client: smtplib.SMTP,
    recorder: ProbeRecorder,
    settings: ConnectionSettings,
    recipient: str,
    send: bool,
) -> None:
    """MAIL, RCPT and (with ``send``) the test message, each a step of its own."""
    report = recorder.report
    message = build_test_message(settings, recipient)
    encoding = message.encoding or "utf-8"
    with recorder.step(Step.MAIL) as note:
        sender = sanitize_address(settings.from_email, encoding)
        code, reply = client.mail(sender)
        note.reply_code, note.reply = code, reply_text(reply)
        if code != 250:
            raise smtplib.SMTPSenderRefused(code, reply, sender)

    with recorder.step(Step.RCPT) as note:
        code, reply = client.rcpt(sanitize_address(recipient, encoding))
        note.reply_code, note.reply = code, reply_text(reply)
        if code not in (250, 251):
            raise RecipientRefused(code, reply)

    if not send:
        client.rset()
        return

    with recorder.step(Step.DATA) as note:
        payload = message.message().as_bytes(linesep="\r\n")
        limit = client.esmtp_features.get("size", "").strip()
        if limit.isdigit() and 0 < int(limit) < len(payload):
            raise MessageTooLarge(
                552,
                _("the message (%(size)s bytes) is larger than the server's SIZE %(limit)s")
                % {"size": len(payload), "limit": limit},
            )
        code, reply = client.data(payload)
        note.reply_code, note.reply = code, reply_text(reply)
        # smtplib raises only for a refused DATA command, not a refused message.
        if code != 250:
            raise smtplib.SMTPDataError(code, reply)
        report.final_reply = f"{code} {note.reply}"
        report.sent = True
        match = _QUEUE_ID.search(note.reply)
        report.queue_id = next((group for group in match.groups() if group), "") if match else ""


def _fetch_certificate(
    settings: ConnectionSettings,
    budget: Budget | None = None,
    addresses: list[str] | None = None,
) -> dict:
    """The server's certificate, read without verification (for display only).

    Connects to ``addresses`` (the ones the probe resolved, so the same server
    it spoke to, without a second look-up) or, without them, resolves the host
    again; either way through the network policy, like every connection, and
    within what is left of the test's budget.
    """
    host = settings.connect_host
    context = client_context(verify=False)
    try:
        timeout = float(settings.timeout) if budget is None else budget.wait(settings.timeout)
        if addresses:
            candidates = addrinfo(addresses, settings.port)
        else:
            candidates = resolve(host, settings.port, timeout)
        sock, _address, _failures = connect(host, candidates, timeout)
        with sock, guarded(sock, budget):
            if settings.security == Security.SSL:
                with context.wrap_socket(sock, server_hostname=host) as tls:
                    return describe_certificate(tls.getpeercert(binary_form=True))
            client = PreconnectedSMTP(sock, server_hostname=host, timeout=timeout, budget=budget)
            try:
                client.connect(host, settings.port)
                client.starttls(context=context)
                return describe_certificate(client.sock.getpeercert(binary_form=True))
            finally:
                client.close()
    except (OSError, smtplib.SMTPException):
        return {}
