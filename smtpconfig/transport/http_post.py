"""An HTTP POST through the app's network policy: the one road out for HTTP.

The OAuth2 client (:mod:`.oauth_http`) and the alert webhook both send through
:func:`post`: the same resolver (``DNS_NAMESERVERS``), the same network policy
(``BLOCKED_NETWORKS``, ``ALLOWED_HOSTS``) checked for every address before
anything is sent to it, certificate verification for ``https://``, one timeout
for each wait and one deadline for the whole request (the conversation's it
belongs to, or its own: :mod:`.deadline`), and a bounded answer. It is written
on ``http.client`` over the policy's socket rather than with an HTTP library's
connection pool, which would open connections the policy never sees. Which
schemes a caller accepts is the caller's decision.
"""

from __future__ import annotations

import http.client
import ssl
import urllib.parse

from django.views.decorators.debug import sensitive_variables

from .deadline import Budget, conversation_budget, current_budget, guarded
from .network import connect, resolve
from .tls import client_context


@sensitive_variables("body", "headers")
def post(
    url: str,
    body: bytes,
    headers: dict[str, str],
    timeout: float,
    *,
    ca_pem: str = "",
    max_response_bytes: int = 64 * 1024,
) -> tuple[int, bytes]:
    """POST ``body`` to ``url`` (``http://`` or ``https://``); (status, at most
    ``max_response_bytes`` + 1 bytes of the answer).

    Raises :class:`ValueError` for another scheme or no host, and ``OSError``
    (``BlockedAddress``, ``socket.gaierror``, ``TimeoutError``, ``ssl.SSLError``,
    ``http.client.HTTPException``…) when the request cannot be made.
    """
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("an http:// or https:// URL with a host is needed")
    secure = parts.scheme == "https"
    port = parts.port or (443 if secure else 80)
    # Each wait has the timeout, and the whole request one deadline: a server that
    # answers a byte at a time, each just inside the timeout, is cut off all the same.
    budget = current_budget() or Budget.start(conversation_budget(timeout), "http")
    timeout = timeout if budget is None else budget.wait(timeout)
    sock, _address, _failures = connect(
        parts.hostname, resolve(parts.hostname, port, timeout), timeout
    )
    with guarded(sock, budget):
        try:
            if secure:
                context: ssl.SSLContext = client_context(verify=True, ca_pem=ca_pem)
                sock = context.wrap_socket(sock, server_hostname=parts.hostname)
        except BaseException:
            sock.close()
            raise
        with sock:
            connection = http.client.HTTPConnection(parts.hostname, port, timeout=timeout)
            connection.sock = sock  # already connected through the network policy
            path = parts.path + (f"?{parts.query}" if parts.query else "")
            try:
                connection.request("POST", path or "/", body=body, headers=headers)
                response = connection.getresponse()
                return response.status, response.read(max_response_bytes + 1)
            except http.client.HTTPException:
                # A status line or headers cut off by the deadline: the deadline is the cause.
                if budget is not None and budget.spent:
                    raise budget.exceeded() from None
                raise
