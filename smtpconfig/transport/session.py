"""The one road to an SMTP server: resolve ► connect ► TLS ► EHLO ► login.

:func:`open_session` is how the test (``probe``) and the site's mail
(``backends``) reach a server: the same resolver (``DNS_NAMESERVERS`` when
set), the network policy on every address, one time budget, implicit TLS or
STARTTLS (never a downgrade), no password over plain text unless allowed,
and one place where a login method plugs in (:func:`log_in`). A
:class:`Recorder` watches the steps: the base one records nothing (the
backend's), the probe's times them and keeps what the server said.

Any failure is a :class:`~.steps.StepFailed` carrying its step and the
original error, and leaves nothing open: a connection that fails half-way is
closed before the error leaves this module.
"""

from __future__ import annotations

import contextlib
import smtplib
import socket
import ssl
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass

from django.core.mail.utils import DNS_NAME
from django.utils.translation import gettext as _

from ..exceptions import (
    AuthNotOffered,
    PasswordMissing,
    PlaintextAuthRefused,
    SMTPProtocolError,
    StartTLSNotOffered,
    TokenMissing,
    TokenRefused,
)
from .clients import SessionSMTP
from .deadline import Budget, conversation_budget, guarded, within
from .network import connect, resolve
from .scopes import missing_scopes
from .settings import ConnectionSettings, LoginMethod, Security
from .steps import Step, StepFailed, reply_text
from .tls import client_context, new_client_context
from .tokens import cached_token, fetch_token, forget_token


@dataclass
class StepNote:
    """What a step found, for a recorder that keeps it (the reply, a readable detail)."""

    detail: str = ""
    reply_code: int | None = None
    reply: str = ""


class Recorder:
    """Watches a session's steps. This one keeps nothing: the backend's.

    Subclasses (the probe's) time each step and keep what it found; every
    recorder turns an exception raised in a step into :class:`StepFailed`.
    """

    #: The SMTP client class the session talks through (the probe's records a transcript).
    client_class: type[smtplib.SMTP] = SessionSMTP

    @contextlib.contextmanager
    def step(self, step: Step) -> Iterator[StepNote]:
        try:
            yield StepNote()
        except StepFailed:
            raise
        except Exception as exc:  # noqa: BLE001 - every failure is a step's, with its cause
            raise StepFailed(step, exc) from exc

    # What the steps found, for a recorder that keeps it.

    def resolved(self, addresses: list[str]) -> None:
        """The addresses the host resolved to, in the order they are tried."""

    def connected(self, address: str, failures: list[str]) -> None:
        """The address connected to, after the ones that failed."""

    def attached(self, client: smtplib.SMTP) -> None:
        """The SMTP client the session talks through, made after connecting."""

    def tls_established(self, sock: ssl.SSLSocket) -> str:
        """The TLS session is up; returns a detail for the step."""
        return ""

    def greeted(self, client: smtplib.SMTP, greeting: str = "") -> str:
        """EHLO (again, after STARTTLS) has been answered; returns a detail for the step."""
        return ""

    def logged_in(self, client: smtplib.SMTP, username: str) -> str:
        """The login succeeded; returns a detail for the step."""
        return ""


def tls_context(settings: ConnectionSettings) -> ssl.SSLContext:
    """The TLS context for ``settings``: shared per trust setting, or its own with a
    client certificate."""
    if settings.client_certfile or settings.client_keyfile:
        context = new_client_context(
            verify=settings.verify_certificate, ca_pem=settings.ca_certificate
        )
        context.load_cert_chain(settings.client_certfile, settings.client_keyfile)
        return context
    return client_context(verify=settings.verify_certificate, ca_pem=settings.ca_certificate)


def _within(budget: Budget | None, timeout: float | None) -> float | None:
    return timeout if budget is None else budget.wait(timeout)


def open_session(
    settings: ConnectionSettings,
    *,
    recorder: Recorder | None = None,
    budget: Budget | None = None,
) -> smtplib.SMTP:
    """A logged-in SMTP client for ``settings``, ready for MAIL FROM.

    Raises :class:`StepFailed` (with nothing left open) when a step fails.
    ``budget`` bounds the whole opening; without one, each wait is bounded
    by the timeout and the client starts a budget of its own on connecting.

    An OAuth2 token kept from before that the server refuses is forgotten, a
    new one is asked for (a Token step again) and the login tried once more:
    on the same connection (a refused AUTH leaves the session usable, RFC 4954
    section 4), or on a new one if the server has closed it.
    """
    recorder = recorder or Recorder()
    timeout = float(settings.timeout) if settings.timeout else None
    if budget is None:
        budget = Budget.start(conversation_budget(timeout), "connect")

    kept = False
    if settings.logs_in and settings.login_method == LoginMethod.OAUTH2:
        settings, kept = _with_token(settings, recorder, _within(budget, timeout), budget=budget)

    client = _connect(settings, recorder, budget, timeout)
    if not settings.logs_in:
        return client
    try:
        refused = _log_in_step(client, settings, recorder, may_refuse=kept)
        if refused is not None:
            settings, _kept = _with_token(
                settings, recorder, _within(budget, timeout), refused=refused, budget=budget
            )
            if not _still_open(client):
                _close(client, client.sock, polite=False)
                client = None
                client = _connect(settings, recorder, budget, timeout)
            _log_in_step(client, settings, recorder, may_refuse=False)
    except BaseException as exc:
        if client is not None:
            # A token that could not be had after a refusal leaves the SMTP session standing.
            stands = _session_stands(exc) or getattr(exc, "step", None) == Step.TOKEN
            _close(client, client.sock, polite=stands)
        raise
    return client


def _connect(
    settings: ConnectionSettings, recorder: Recorder, budget: Budget, timeout: float | None
) -> smtplib.SMTP:
    """Resolve ► connect ► TLS ► EHLO (► STARTTLS): a client ready to log in."""
    host, port = settings.connect_host, settings.port
    with recorder.step(Step.RESOLVE) as note:
        addresses = resolve(host, port, _within(budget, timeout))
        shown = list(dict.fromkeys(str(address[4][0]) for address in addresses))
        recorder.resolved(shown)
        note.detail = ", ".join(shown)

    with recorder.step(Step.CONNECT) as note:
        sock, address, failures = connect(host, addresses, _within(budget, timeout))
        recorder.connected(address, failures)
        note.detail = _("connected to %(address)s port %(port)s") % {
            "address": address,
            "port": port,
        }
        if failures:
            note.detail += " " + _("(after: %(failures)s)") % {"failures": "; ".join(failures)}

    client = None
    try:
        context = tls_context(settings) if settings.security != Security.NONE else None
        if settings.security == Security.SSL:
            with recorder.step(Step.TLS) as note:
                with guarded(sock, budget):  # a handshake dripped byte by byte ends in time
                    sock.settimeout(_within(budget, timeout))
                    sock = context.wrap_socket(sock, server_hostname=host)
                note.detail = recorder.tls_established(sock)

        client = recorder.client_class(
            sock,
            server_hostname=host,
            local_hostname=DNS_NAME.get_fqdn(),
            timeout=timeout,
            budget=budget,
        )
        recorder.attached(client)
        with recorder.step(Step.EHLO) as note:
            code, greeting = client.connect(host, port)
            if code != 220:
                raise smtplib.SMTPConnectError(code, greeting)
            client.ehlo_or_helo_if_needed()
            note.reply_code, note.reply = code, reply_text(greeting)
            note.detail = recorder.greeted(client, f"{code} {note.reply}")

        if settings.security == Security.STARTTLS:
            with recorder.step(Step.TLS) as note:
                if not client.has_extn("starttls"):
                    raise StartTLSNotOffered(
                        _("the server does not offer STARTTLS; nothing more was sent")
                    )
                client.starttls(context=context)
                note.detail = recorder.tls_established(client.sock)
                client.ehlo()
                recorder.greeted(client)
    except BaseException as exc:
        # Half-way open is not open: nothing is left behind for the caller to close.
        _close(client, sock, polite=_session_stands(exc))
        raise
    return client


def _log_in_step(
    client: smtplib.SMTP, settings: ConnectionSettings, recorder: Recorder, *, may_refuse: bool
) -> smtplib.SMTPAuthenticationError | None:
    """The Authentication step. With ``may_refuse`` (a token kept from before), a refusal
    that a new token may cure ends the step and is returned instead of raised."""
    with recorder.step(Step.AUTH) as note:
        try:
            code, reply = log_in(client, settings)
        except smtplib.SMTPAuthenticationError as exc:
            if not (may_refuse and _token_may_be_stale(exc)):
                raise
            note.reply_code, note.reply = exc.smtp_code, reply_text(exc.smtp_error)
            note.detail = _(
                "the server refused the token kept from before (%(code)s %(reply)s); "
                "asking for a new one"
            ) % {"code": note.reply_code, "reply": note.reply}
            return exc
        note.reply_code, note.reply = code, reply_text(reply)
        note.detail = recorder.logged_in(client, settings.username)
    return None


def _token_may_be_stale(exc: smtplib.SMTPAuthenticationError) -> bool:
    """Whether a new token may succeed where this refusal of a kept one failed: a 535 or
    534, except Microsoft's 5.7.139 (SMTP AUTH is off: no token can help)."""
    return exc.smtp_code in (534, 535) and "5.7.139" not in reply_text(exc.smtp_error)


def _still_open(client: smtplib.SMTP) -> bool:
    """Whether the server still listens after refusing a login (some close the session)."""
    if client.sock is None:
        return False
    try:
        code, _reply = client.noop()
    except (OSError, smtplib.SMTPException):
        return False
    return code == 250


def _with_token(
    settings: ConnectionSettings,
    recorder: Recorder,
    wait,
    *,
    budget: Budget | None = None,
    refused: smtplib.SMTPAuthenticationError | None = None,
) -> tuple[ConnectionSettings, bool]:
    """``settings`` with an access token (given, cached, or asked of the token endpoint in
    a step of its own, before any connection to the mail server), and whether it is one
    kept from before. After the server ``refused`` a kept token, it is forgotten and a
    new one asked for.

    A token whose granted scope lacks the scope to send mail fails this step: the
    server would refuse it without saying why.
    """
    request = settings.oauth_request
    if request is None or (settings.oauth_token and refused is None):
        return settings, False
    with recorder.step(Step.TOKEN) as note:
        if refused is not None:
            forget_token(request)
        token = cached_token(request)
        kept = token is not None
        if not kept:
            with within(budget):  # the token endpoint's answer, too, within the test's time
                token = fetch_token(request, wait)
        endpoint = urllib.parse.urlsplit(request.token_url).netloc
        missing = missing_scopes(request.scope, token.scope)
        if missing:
            forget_token(request)  # asked for again next time: consent may be granted by then
            raise TokenRefused(
                "insufficient_scope",
                _("granted %(granted)s; missing %(missing)s")
                % {"granted": token.scope, "missing": " ".join(missing)},
            )
        if refused is not None:
            detail = _(
                "the token kept from before was refused: new token from %(endpoint)s, valid "
                "for %(minutes)s more minutes"
            )
        elif kept:
            detail = _(
                "token from %(endpoint)s kept from before, valid for %(minutes)s more minutes"
            )
        else:
            detail = _("new token from %(endpoint)s, valid for %(minutes)s more minutes")
        note.detail = detail % {"endpoint": endpoint, "minutes": token.expires_in // 60}
    return settings.replace(oauth_token=token.access_token), kept


def log_in(client: smtplib.SMTP, settings: ConnectionSettings) -> tuple[int, bytes]:
    """Log in with the settings' method (password or OAuth2); raise if it may not be sent."""
    if not client.has_extn("auth"):
        raise AuthNotOffered(_("the server offers no AUTH command"))
    if settings.login_method == LoginMethod.OAUTH2:
        if not settings.oauth_token:
            raise TokenMissing(
                _(
                    "OAuth2 is chosen but there is no token to sign in with: no account is "
                    "connected to this profile yet"
                )
            )
        if settings.security == Security.NONE and not settings.allow_plaintext_auth:
            raise PlaintextAuthRefused(
                _("the token would cross the network unencrypted; it was not sent")
            )
        return client.login_xoauth2(settings.username, settings.oauth_token)
    if not settings.password:
        raise PasswordMissing(_("a user name is set but no password"))
    if settings.security == Security.NONE and not settings.allow_plaintext_auth:
        raise PlaintextAuthRefused(
            _("the password would cross the network unencrypted; it was not sent")
        )
    return client.login(settings.username, settings.password)


def _session_stands(exc: BaseException) -> bool:
    """Whether the server is still listening after ``exc`` (it refused something)."""
    error = exc.error if isinstance(exc, StepFailed) else exc
    return isinstance(error, smtplib.SMTPResponseException) and not isinstance(
        error, SMTPProtocolError
    )


def _close(client: smtplib.SMTP | None, sock: socket.socket | None, *, polite: bool) -> None:
    """End the session: QUIT where the server still listens, then close the socket."""
    if client is not None and polite:
        with contextlib.suppress(OSError, smtplib.SMTPException):
            client.quit()
    with contextlib.suppress(OSError):
        if client is not None:
            client.close()
        if sock is not None:
            sock.close()


__all__ = [
    "Recorder",
    "StepNote",
    "log_in",
    "open_session",
    "tls_context",
]
