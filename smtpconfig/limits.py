"""How long the app's work in one web request may take: what a web server's timeout must exceed.

Every admin action that talks to the network ends within deadlines derived from
the settings, so their sum is an upper bound a web server can be configured with
(the host project's ``gunicorn.conf.py`` reads :func:`longest_request_seconds`).
"""

from __future__ import annotations

from .conf import get_setting
from .providers.discovery import TIME_BUDGET
from .transport.deadline import longest_conversation


def longest_request_seconds() -> float:
    """The most seconds smtpconfig's own work in one admin request may take.

    The longest of the admin's actions, each bounded by the settings:

    - *Send test email* and *Check connection*: the test's one deadline (three
      times the profile's timeout, at most ``MAX_CONVERSATION_SECONDS``; with
      no cap, three times the longest timeout a profile may have, 300 s), which
      covers the OAuth2 token request and the re-read of a certificate that
      failed verification; then, after a passing test, the sender domain's DNS
      look-ups and the page's own (each at most ``DNS_TIMEOUT``);
    - *Detect settings*: discovery's 3 seconds, then the page's DNS look-ups;
    - *Connect account* (its return from the provider) and *Connect with a
      code* (its start and each poll): one token request, within the same
      deadline as a conversation.

    Not counted: the database and the rendering of the page, for which the
    web server's timeout must add a margin.
    """
    dns = float(get_setting("DNS_TIMEOUT"))
    conversation = longest_conversation()
    test = conversation + 2 * dns
    detection = TIME_BUDGET + dns
    return max(test, detection, conversation)
