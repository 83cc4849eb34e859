"""The host project's password reset: the email goes out through the default profile."""

import re

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse
from django_tasks_db.models import DBTaskResult

from smtpconfig.models import OutboxMessage
from tests.helpers import run_ready_tasks

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("use_backend")]


def test_admin_login_page_offers_password_reset(client):
    html = client.get(reverse("admin:login")).content.decode()
    assert "Forgotten your password" in html
    assert reverse("admin_password_reset") in html


def test_reset_email_arrives_from_the_profile_and_its_link_sets_a_new_password(
    client, plain_server, make_profile
):
    make_profile(port=plain_server.port, from_name="Example Site", from_email="noreply@example.com")
    user = get_user_model().objects.create_user("alice", "alice@example.org", "Old-Pass-123")

    response = client.post(reverse("admin_password_reset"), {"email": "alice@example.org"})
    assert response.status_code == 302
    assert plain_server.messages == []  # the worker looks the account up and sends

    run_ready_tasks()
    assert len(plain_server.messages) == 1
    received = plain_server.messages[0]
    assert received.rcpt_tos == ["alice@example.org"]
    assert received.mail_from == "noreply@example.com"
    assert received.message["From"] == "Example Site <noreply@example.com>"

    body = received.message.get_body(("plain",)).get_content()
    link = re.search(r"https?://[^/\s]+(/reset/\S+/)", body).group(1)
    form_page = client.get(link, follow=True)
    assert form_page.status_code == 200
    set_password_url = form_page.redirect_chain[-1][0]
    done = client.post(
        set_password_url, {"new_password1": "New-Pass-456!", "new_password2": "New-Pass-456!"}
    )
    assert done.status_code == 302
    user.refresh_from_db()
    assert user.check_password("New-Pass-456!")


def test_reset_for_unknown_address_sends_nothing_and_reveals_nothing(
    client, plain_server, make_profile
):
    make_profile(port=plain_server.port)
    response = client.post(reverse("admin_password_reset"), {"email": "nobody@example.org"})
    assert response.status_code == 302
    run_ready_tasks()
    assert plain_server.messages == []


def test_the_request_does_the_same_work_whether_or_not_the_account_exists(
    client, settings, django_assert_num_queries
):
    """The answer's time must not tell who has an account: for a known and an unknown
    address the request makes the same queries (one task row) and renders no email."""
    settings.EMAIL_BACKEND = "smtpconfig.backends.QueuedEmailBackend"
    get_user_model().objects.create_user("alice", "alice@example.org", "Old-Pass-123")
    url = reverse("admin_password_reset")
    client.get(url)  # the session and the CSRF cookie
    queries = []
    for email in ("alice@example.org", "nobody@example.org"):
        with django_assert_num_queries(1) as captured:
            assert client.post(url, {"email": email}).status_code == 302
        queries.append([query["sql"].split(" ")[0] for query in captured.captured_queries])
    assert queries[0] == queries[1] == ["INSERT"]
    assert DBTaskResult.objects.count() == 2 and OutboxMessage.objects.count() == 0

    run_ready_tasks()
    (queued,) = OutboxMessage.objects.all()
    assert queued.recipients == "alice@example.org"


@pytest.mark.parametrize(
    ("language", "title"), [("en", "Mail settings"), ("ru", "Настройки почты")]
)
def test_reset_pages_carry_the_sites_own_title(client, language, title):
    for url in (reverse("admin_password_reset"), reverse("password_reset_done")):
        html = client.get(url, HTTP_ACCEPT_LANGUAGE=language).content.decode()
        assert title in html
        assert "Django administration" not in html and "Администрирование Django" not in html
