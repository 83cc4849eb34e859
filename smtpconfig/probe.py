"""One SMTP conversation, step by step, against settings that need not be saved.

:func:`run_probe` resolves the host, connects, negotiates TLS, greets, logs
in and sends (or, with ``send=False``, stops after RCPT TO), timing each step
and stopping at the first failure, which :mod:`smtpconfig.diagnosis` then
explains. It never touches the database: the admin, ``smtp_test`` and the
backend's error reports all share this one account of what happened.
"""

from __future__ import annotations

import json
import re
import smtplib
import socket
import ssl
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from django.core.mail import EmailMessage
from django.core.mail.message import sanitize_address
from django.core.mail.utils import DNS_NAME
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from .exceptions import ReplyTooLong, SMTPProtocolError
from .models import Security, format_sender
from .transport.clients import TRANSCRIPT_CUT, PreconnectedSMTP
from .transport.deadline import Budget, conversation_budget, guarded
from .transport.network import addrinfo
from .transport.network import connect as _connect
from .transport.network import resolve as _resolve
from .transport.tls import client_context, describe_certificate

if TYPE_CHECKING:
    from .diagnosis import Diagnosis
    from .models import SMTPProfile

RESOLVE, CONNECT, TLS, EHLO, AUTH, MAIL, RCPT, DATA = (
    "resolve",
    "connect",
    "tls",
    "ehlo",
    "auth",
    "mail",
    "rcpt",
    "data",
)

STEP_LABELS = {
    RESOLVE: gettext_lazy("Resolve host"),
    CONNECT: gettext_lazy("Connect"),
    TLS: gettext_lazy("TLS"),
    EHLO: gettext_lazy("Greeting and EHLO"),
    AUTH: gettext_lazy("Authentication"),
    MAIL: gettext_lazy("Sender (MAIL FROM)"),
    RCPT: gettext_lazy("Recipient (RCPT TO)"),
    DATA: gettext_lazy("Message (DATA)"),
}

#: The most a report's JSON (stored on the profile, sent to the page) may take, in bytes.
MAX_REPORT_BYTES = 64 * 1024

_QUEUE_ID = re.compile(r"queued as\s+([A-Za-z0-9._-]+)|\bid=([A-Za-z0-9._-]+)", re.IGNORECASE)


class StartTLSNotOffered(smtplib.SMTPNotSupportedError):
    """The server's EHLO reply has no STARTTLS, so nothing more was sent."""


class AuthNotOffered(smtplib.SMTPNotSupportedError):
    """A user name is set but the server's EHLO reply offers no AUTH."""


class PasswordMissing(smtplib.SMTPException):
    """A user name is set but there is no password to log in with."""


class PlaintextAuthRefused(smtplib.SMTPException):
    """A login over an unencrypted connection was not allowed; nothing was sent."""


class RecipientRefused(smtplib.SMTPResponseException):
    """The server refused the recipient at RCPT TO."""


class MessageTooLarge(smtplib.SMTPResponseException):
    """The message is larger than the SIZE the server announced; it was not sent."""


def _capabilities(client: smtplib.SMTP) -> list[str]:
    """EHLO keywords with their parameters, such as ``AUTH PLAIN LOGIN`` or ``SIZE 35882577``."""
    return sorted(
        f"{name.upper()} {value.strip()}".strip() for name, value in client.esmtp_features.items()
    )


@dataclass(frozen=True)
class ProbeSettings:
    """The settings one conversation needs: a profile's, saved or not."""

    host: str
    port: int
    security: str = Security.STARTTLS
    username: str = ""
    password: str = field(default="", repr=False)
    timeout: float = 10
    verify_certificate: bool = True
    ca_certificate: str = ""
    from_email: str = ""
    from_name: str = ""
    reply_to: str = ""
    profile_name: str = ""
    allow_plaintext_auth: bool = False

    @classmethod
    def from_profile(cls, profile: SMTPProfile, *, password: str | None = None) -> ProbeSettings:
        """Settings from a profile; ``password`` (when given) replaces the stored one.

        Reading the stored password may raise
        :class:`~smtpconfig.exceptions.SecretUnreadable`.
        """
        return cls(
            host=profile.host,
            port=profile.port,
            security=profile.security,
            username=profile.username,
            password=profile.readable_password() if password is None else password,
            timeout=profile.timeout,
            verify_certificate=profile.verify_certificate,
            ca_certificate=profile.ca_certificate,
            from_email=profile.from_email,
            from_name=profile.from_name,
            reply_to=profile.reply_to,
            profile_name=profile.name,
            allow_plaintext_auth=profile.allow_plaintext_auth,
        )

    @property
    def connect_host(self) -> str:
        """The host without the brackets an IPv6 address may be written with."""
        return self.host.strip().removeprefix("[").removesuffix("]")


@dataclass
class Step:
    """One step of the conversation: its outcome, duration and evidence."""

    name: str
    ok: bool = False
    duration: float = 0.0
    detail: str = ""
    reply_code: int | None = None
    reply: str = ""

    @property
    def label(self) -> str:
        return str(STEP_LABELS[self.name])

    @property
    def duration_ms(self) -> str:
        """The duration in milliseconds, to a tenth below 10 ms."""
        milliseconds = self.duration * 1000
        return f"{milliseconds:.1f}" if milliseconds < 10 else f"{milliseconds:.0f}"

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "label": self.label, "duration": round(self.duration, 4)}


@dataclass
class ProbeReport:
    """What happened, step by step, and why it failed if it did."""

    host: str
    port: int
    security: str
    recipient: str
    send: bool
    steps: list[Step] = field(default_factory=list)
    ok: bool = False
    sent: bool = False
    diagnosis: Diagnosis | None = None
    addresses: list[str] = field(default_factory=list)
    certificate: dict = field(default_factory=dict)
    tls: dict = field(default_factory=dict)
    capabilities: list[str] = field(default_factory=list)
    auth_mechanism: str = ""
    final_reply: str = ""
    queue_id: str = ""
    transcript: list[str] = field(default_factory=list)
    duration: float = 0.0
    #: Something the server sent was too long to keep in full, and was cut.
    cut: bool = False
    exception: BaseException | None = field(default=None, repr=False)

    @property
    def failed_step(self) -> Step | None:
        return next((step for step in self.steps if not step.ok), None)

    def summary(self) -> str:
        """One line for a message, a log or the profile's last-test column."""
        server = f"{self.host}:{self.port}"
        if self.ok and self.sent:
            return _("%(server)s accepted the test email for %(recipient)s: %(reply)s") % {
                "server": server,
                "recipient": self.recipient,
                "reply": self.final_reply,
            }
        if self.ok:
            return _(
                "%(server)s accepted the connection, login, sender and recipient; "
                "no message was sent."
            ) % {"server": server}
        step = self.failed_step
        return _("The test failed at “%(step)s” on %(server)s: %(reason)s") % {
            "step": step.label if step else "?",
            "server": server,
            "reason": self.diagnosis.problem if self.diagnosis else (step.detail if step else ""),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ProbeReport:
        """A report from :meth:`as_dict`'s data (a profile's stored last report)."""
        from .diagnosis import Diagnosis

        steps = [
            Step(
                name=step["name"],
                ok=step["ok"],
                duration=step.get("duration", 0.0),
                detail=step.get("detail", ""),
                reply_code=step.get("reply_code"),
                reply=step.get("reply", ""),
            )
            for step in data.get("steps", [])
            if step.get("name") in STEP_LABELS
        ]
        diagnosis = data.get("diagnosis")
        return cls(
            host=data.get("host", ""),
            port=data.get("port", 0),
            security=data.get("security", ""),
            recipient=data.get("recipient", ""),
            send=data.get("send", data.get("sent", False)),
            steps=steps,
            ok=data.get("ok", False),
            sent=data.get("sent", False),
            diagnosis=Diagnosis(**diagnosis) if diagnosis else None,
            addresses=data.get("addresses", []),
            certificate=data.get("certificate", {}),
            tls=data.get("tls", {}),
            capabilities=data.get("capabilities", []),
            auth_mechanism=data.get("auth_mechanism", ""),
            final_reply=data.get("final_reply", ""),
            queue_id=data.get("queue_id", ""),
            transcript=data.get("transcript", []),
            duration=data.get("duration", 0.0),
            cut=bool(data.get("cut", False)),
        )

    def as_dict(self) -> dict[str, Any]:
        """The whole report as JSON-ready data, at most :data:`MAX_REPORT_BYTES` as JSON.

        Whatever a server made long (its replies, capabilities, the
        transcript) is shortened to fit, and ``"cut"`` says so.
        """
        data = {
            "ok": self.ok,
            "sent": self.sent,
            "host": self.host,
            "port": self.port,
            "security": self.security,
            "recipient": self.recipient,
            "send": self.send,
            "summary": self.summary(),
            "steps": [step.as_dict() for step in self.steps],
            "failed_step": self.failed_step.name if self.failed_step else None,
            "diagnosis": self.diagnosis.as_dict() if self.diagnosis else None,
            "addresses": self.addresses,
            "certificate": self.certificate,
            "tls": self.tls,
            "capabilities": self.capabilities,
            "auth_mechanism": self.auth_mechanism,
            "final_reply": self.final_reply,
            "queue_id": self.queue_id,
            "transcript": self.transcript,
            "duration": round(self.duration, 4),
            "cut": self.cut,
        }
        return _fit(data)


def _json_size(data: Any) -> int:
    # ASCII-escaped, as Django's JSONField and JsonResponse write it: the larger count.
    return len(json.dumps(data, default=str))


def _shorten(value: Any, chars: int, items: int) -> Any:
    if isinstance(value, str):
        return value if len(value) <= chars else value[:chars] + "…"
    if isinstance(value, list):
        kept = [_shorten(item, chars, items) for item in value[:items]]
        return kept + [TRANSCRIPT_CUT] if len(value) > items else kept
    if isinstance(value, dict):
        return {key: _shorten(item, chars, items) for key, item in value.items()}
    return value


def _fit(data: dict[str, Any]) -> dict[str, Any]:
    """``data`` within MAX_REPORT_BYTES: strings and lists shortened, harder each round.

    Lists keep at least ten items, so the steps (eight at most) are never cut.
    """
    if _json_size(data) <= MAX_REPORT_BYTES:
        return data
    for chars, items in ((1000, 100), (200, 20), (60, 10)):
        shortened = _shorten({**data, "cut": True}, chars, items)
        if _json_size(shortened) <= MAX_REPORT_BYTES:
            return shortened
    # Only a report made of many long non-ASCII strings gets here: keep the verdict.
    keep = ("ok", "sent", "host", "port", "security", "send", "failed_step", "duration")
    return {
        **{key: data[key] for key in keep},
        "summary": _shorten(data["summary"], 200, 0),
        "steps": [
            {"name": step["name"], "ok": step["ok"], "label": step["label"]}
            for step in data["steps"]
        ],
        "cut": True,
    }


class _StepFailed(Exception):
    """Internal: a step failed and was recorded; the conversation stops."""


def _reply_text(reply: bytes | str) -> str:
    if isinstance(reply, bytes):
        reply = reply.decode("utf-8", "replace")
    return " ".join(reply.split())


def describe_exception(exc: BaseException) -> str:
    """A short, secret-free account of an exception, with the server's reply if any."""
    if isinstance(exc, SMTPProtocolError):
        return str(exc)  # says what was wrong with the reply, never the reply itself
    if isinstance(exc, smtplib.SMTPResponseException):
        return f"{exc.smtp_code} {_reply_text(exc.smtp_error)}"
    if isinstance(exc, ssl.SSLCertVerificationError):
        return exc.verify_message or str(exc.reason or exc)
    if isinstance(exc, ssl.SSLError):
        # OpenSSL's reason code, such as WRONG_VERSION_NUMBER, in words.
        return str(exc.reason).replace("_", " ").lower() if exc.reason else str(exc)
    if isinstance(exc, socket.gaierror):
        return exc.strerror or str(exc)
    if isinstance(exc, TimeoutError | socket.timeout):
        return str(exc) or _("timed out")
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or exc.__class__.__name__


class _Conversation:
    """Runs the steps and records each into the report."""

    def __init__(self, settings: ProbeSettings, report: ProbeReport):
        self.settings = settings
        self.report = report
        self.client: PreconnectedSMTP | None = None

    @contextmanager
    def step(self, name: str) -> Iterator[Step]:
        record = Step(name=name)
        started = time.perf_counter()
        try:
            yield record
        except Exception as exc:  # noqa: BLE001 - every failure becomes a verdict, never a 500
            record.duration = time.perf_counter() - started
            record.ok = False
            if isinstance(exc, smtplib.SMTPResponseException) and not isinstance(
                exc, SMTPProtocolError
            ):
                record.reply_code = exc.smtp_code
                record.reply = _reply_text(exc.smtp_error)
            record.detail = describe_exception(exc)
            self.report.steps.append(record)
            self.report.exception = exc
            raise _StepFailed from exc
        record.duration = time.perf_counter() - started
        record.ok = True
        self.report.steps.append(record)


def _record_tls(report: ProbeReport, sock: ssl.SSLSocket) -> str:
    cipher = sock.cipher()
    report.tls = {"version": sock.version() or "", "cipher": cipher[0] if cipher else ""}
    report.certificate = describe_certificate(sock.getpeercert(binary_form=True))
    detail = _("%(version)s, %(cipher)s") % report.tls
    if report.certificate.get("subject"):
        detail += "; " + _("certificate for %(subject)s issued by %(issuer)s") % report.certificate
    if report.certificate.get("note"):
        detail += "; " + report.certificate["note"]
    return detail


def build_test_message(settings: ProbeSettings, recipient: str) -> EmailMessage:
    """The test email: says which profile and server sent it."""
    name = settings.profile_name or settings.host
    body = _(
        "This is a test email from the SMTP profile “%(profile)s”.\n\n"
        "Server: %(host)s, port %(port)s, security %(security)s\n"
        "Sender: %(sender)s\n\n"
        "If you are reading this, the server accepted the message and delivered it.\n"
    ) % {
        "profile": name,
        "host": settings.host,
        "port": settings.port,
        "security": Security(settings.security).label,
        "sender": format_sender(settings.from_name, settings.from_email),
    }
    return EmailMessage(
        subject=_("SMTP test email: %(profile)s") % {"profile": name},
        body=body,
        from_email=format_sender(settings.from_name, settings.from_email),
        to=[recipient],
        reply_to=[settings.reply_to] if settings.reply_to else None,
        headers={"Auto-Submitted": "auto-generated"},
    )


def run_probe(settings: ProbeSettings, recipient: str, *, send: bool = True) -> ProbeReport:
    """Hold one SMTP conversation and return what happened.

    Never raises for a network, TLS or SMTP failure: the report says which
    step failed, with the server's reply and a diagnosis. Every network step
    is bounded by ``settings.timeout``, and all of them together by
    :func:`~smtpconfig.transport.deadline.conversation_budget`. With
    ``send=False`` the conversation ends politely after RCPT TO, so nothing
    is delivered.
    """
    from .diagnosis import diagnose

    report = ProbeReport(
        host=settings.host,
        port=settings.port,
        security=settings.security,
        recipient=recipient,
        send=send,
    )
    started = time.perf_counter()
    budget = Budget.start(conversation_budget(float(settings.timeout)), "test")
    conversation = _Conversation(settings, report)
    try:
        _converse(conversation, settings, recipient, send, budget)
        report.ok = True
    except _StepFailed:
        if isinstance(report.exception, ssl.SSLCertVerificationError):
            # Show the certificate that failed (its names, its dates): read it again
            # without verifying, on a new connection that sends nothing else.
            report.certificate = (
                _fetch_certificate(settings, budget, report.addresses) or report.certificate
            )
        report.diagnosis = diagnose(report, settings)
    finally:
        client = conversation.client
        if client is not None:
            if report.ok:
                try:
                    client.quit()
                except (OSError, smtplib.SMTPException):
                    client.close()
            report.transcript = list(getattr(client, "transcript", []))
            report.cut = client.transcript_cut
        report.cut = report.cut or isinstance(report.exception, ReplyTooLong)
        report.duration = time.perf_counter() - started
    return report


def _within(budget: Budget | None, timeout: float) -> float:
    """The timeout of the next wait: ``timeout``, cut to what is left of the test's budget."""
    return timeout if budget is None else budget.wait(timeout)


def _fetch_certificate(
    settings: ProbeSettings, budget: Budget | None = None, addresses: list[str] | None = None
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
        timeout = _within(budget, float(settings.timeout))
        if addresses:
            candidates = addrinfo(addresses, settings.port)
        else:
            candidates = _resolve(host, settings.port, timeout)
        sock, _address, _failures = _connect(host, candidates, timeout)
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


def _converse(
    conversation: _Conversation,
    settings: ProbeSettings,
    recipient: str,
    send: bool,
    budget: Budget | None,
) -> None:
    report = conversation.report
    host = settings.connect_host
    timeout = float(settings.timeout)

    with conversation.step(RESOLVE) as step:
        addresses = _resolve(host, settings.port, _within(budget, timeout))
        report.addresses = list(dict.fromkeys(str(address[4][0]) for address in addresses))
        step.detail = ", ".join(report.addresses)

    with conversation.step(CONNECT) as step:
        sock, address, failures = _connect(host, addresses, _within(budget, timeout))
        step.detail = _("connected to %(address)s port %(port)s") % {
            "address": address,
            "port": settings.port,
        }
        if failures:
            step.detail += " " + _("(after: %(failures)s)") % {"failures": "; ".join(failures)}

    context = (
        client_context(verify=settings.verify_certificate, ca_pem=settings.ca_certificate)
        if settings.security != Security.NONE
        else None
    )
    if settings.security == Security.SSL:
        with conversation.step(TLS) as step:
            try:
                with guarded(sock, budget):  # a handshake dripped byte by byte ends in time too
                    sock.settimeout(_within(budget, timeout))
                    sock = context.wrap_socket(sock, server_hostname=host)
            except BaseException:
                sock.close()
                raise
            step.detail = _record_tls(report, sock)

    client = PreconnectedSMTP(
        sock,
        server_hostname=host,
        local_hostname=DNS_NAME.get_fqdn(),
        timeout=timeout,
        budget=budget,
    )
    conversation.client = client
    try:
        with conversation.step(EHLO) as step:
            code, greeting = client.connect(host, settings.port)
            if code != 220:
                raise smtplib.SMTPConnectError(code, greeting)
            client.ehlo_or_helo_if_needed()
            report.capabilities = _capabilities(client)
            step.reply_code, step.reply = code, _reply_text(greeting)
            step.detail = _("%(greeting)s; offers: %(capabilities)s") % {
                "greeting": f"{code} {step.reply}",
                "capabilities": ", ".join(report.capabilities) or _("nothing (HELO only)"),
            }

        if settings.security == Security.STARTTLS:
            with conversation.step(TLS) as step:
                if not client.has_extn("starttls"):
                    raise StartTLSNotOffered(
                        _("the server does not offer STARTTLS; nothing more was sent")
                    )
                client.starttls(context=context)
                step.detail = _record_tls(report, client.sock)
                client.ehlo()
                report.capabilities = _capabilities(client)

        if settings.username:
            with conversation.step(AUTH) as step:
                if not client.has_extn("auth"):
                    raise AuthNotOffered(_("the server offers no AUTH command"))
                if not settings.password:
                    raise PasswordMissing(_("a user name is set but no password"))
                if settings.security == Security.NONE and not settings.allow_plaintext_auth:
                    raise PlaintextAuthRefused(
                        _("the password would cross the network unencrypted; it was not sent")
                    )
                code, reply = client.login(settings.username, settings.password)
                report.auth_mechanism = client.auth_mechanism or ""
                step.reply_code, step.reply = code, _reply_text(reply)
                step.detail = _("logged in as %(user)s with %(mechanism)s") % {
                    "user": settings.username,
                    "mechanism": report.auth_mechanism,
                }

        message = build_test_message(settings, recipient)
        with conversation.step(MAIL) as step:
            sender = sanitize_address(settings.from_email, message.encoding or "utf-8")
            code, reply = client.mail(sender)
            step.reply_code, step.reply = code, _reply_text(reply)
            if code != 250:
                raise smtplib.SMTPSenderRefused(code, reply, sender)
            step.detail = f"{code} {step.reply}"

        with conversation.step(RCPT) as step:
            code, reply = client.rcpt(sanitize_address(recipient, message.encoding or "utf-8"))
            step.reply_code, step.reply = code, _reply_text(reply)
            if code not in (250, 251):
                raise RecipientRefused(code, reply)
            step.detail = f"{code} {step.reply}"

        if not send:
            client.rset()
            return

        with conversation.step(DATA) as step:
            payload = message.message().as_bytes(linesep="\r\n")
            limit = client.esmtp_features.get("size", "").strip()
            if limit.isdigit() and 0 < int(limit) < len(payload):
                raise MessageTooLarge(
                    552,
                    _("the message (%(size)s bytes) is larger than the server's SIZE %(limit)s")
                    % {"size": len(payload), "limit": limit},
                )
            code, reply = client.data(payload)
            step.reply_code, step.reply = code, _reply_text(reply)
            # smtplib raises only for a refused DATA command, not a refused message.
            if code != 250:
                raise smtplib.SMTPDataError(code, reply)
            step.detail = f"{code} {step.reply}"
            report.final_reply = step.detail
            report.sent = True
            match = _QUEUE_ID.search(step.reply)
            report.queue_id = (
                next((group for group in match.groups() if group), "") if match else ""
            )
    except BaseException:
        # End politely where the session still stands (a refused sender or
        # recipient); a broken connection is simply closed.
        try:
            if isinstance(conversation.report.exception, smtplib.SMTPResponseException):
                client.quit()
        except (OSError, smtplib.SMTPException):
            pass
        client.close()
        raise
