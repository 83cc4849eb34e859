"""The worker's connections (outbox/worker.py): one per route for a whole drain, batch after
batch, and a new one as soon as the profiles change."""

from __future__ import annotations

import pytest
from django.core import mail

from smtpconfig.outbox import claims
from smtpconfig.outbox.worker import Summary, drain, send_batch
from tests.smtpd import PLAIN_REPLIES, scripted_server

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def queued(settings):
    settings.EMAIL_BACKEND = "smtpconfig.backends.QueuedEmailBackend"


def test_the_batches_of_one_drain_go_over_one_connection(queued, settings, make_profile):
    settings.SMTPCONFIG = {**settings.SMTPCONFIG, "OUTBOX_BATCH_SIZE": 5}
    with scripted_server(b"220 scripted.test\r\n", PLAIN_REPLIES) as server:
        make_profile(port=server.port)
        for number in range(12):
            mail.send_mail(f"n{number}", "Body", None, ["a@x.test"])
        assert drain().sent == 12  # three claims of at most five
    assert len(server.received) == 12 and len(server.connections) == 1


def test_a_profile_changed_between_batches_is_used_by_the_next_batch(queued, make_profile):
    with (
        scripted_server(b"220 first.test\r\n", PLAIN_REPLIES) as first,
        scripted_server(b"220 second.test\r\n", PLAIN_REPLIES) as second,
    ):
        profile = make_profile(port=first.port)
        for number in range(4):
            mail.send_mail(f"n{number}", "Body", None, ["a@x.test"])
        summary, senders = Summary(), {}
        try:
            send_batch(claims.claim(2), summary, senders)
            profile.port = second.port
            profile.save()
            send_batch(claims.claim(2), summary, senders)
        finally:
            for _profiles, sender in senders.values():
                sender.close()
    assert summary.sent == 4
    assert len(first.received) == 2 and len(second.received) == 2


def test_the_next_drain_takes_the_connection_back_from_the_pool(queued, make_profile):
    with scripted_server(b"220 scripted.test\r\n", PLAIN_REPLIES) as server:
        make_profile(port=server.port)
        mail.send_mail("first", "Body", None, ["a@x.test"])
        assert drain().sent == 1
        mail.send_mail("second", "Body", None, ["a@x.test"])
        assert drain().sent == 1
    assert len(server.received) == 2 and len(server.connections) == 1
    assert b"QUIT" not in [command.upper() for command in server.commands]
