"""The host project's password reset: the email goes out through the default profile."""

import re

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse

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
    assert plain_server.messages == []


@pytest.mark.parametrize(
    ("language", "title"), [("en", "Mail settings"), ("ru", "Настройки почты")]
)
def test_reset_pages_carry_the_sites_own_title(client, language, title):
    for url in (reverse("admin_password_reset"), reverse("password_reset_done")):
        html = client.get(url, HTTP_ACCEPT_LANGUAGE=language).content.decode()
        assert title in html
        assert "Django administration" not in html and "Администрирование Django" not in html
