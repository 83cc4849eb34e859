"""Connecting a profile's OAuth2 account in the admin with a code (device code flow, issue 12).

The provider is a real HTTPS server on 127.0.0.1 (tests/tokend.py) answering the device
authorization endpoint (/device) and the token endpoint (/token) as scripted; the admin
is driven with Django's test client, as the page's script (JSON) and as a page without
JavaScript.
"""

import socket

import pytest
from django.contrib.admin.models import LogEntry
from django.urls import reverse

from smtpconfig.admin.device_views import _SESSION_KEY
from smtpconfig.models import SMTPProfile

from .helpers import change_url, client_with, make_oauth_profile, page

pytestmark = pytest.mark.django_db

DEVICE_CODE = "device-code-the-page-never-shows"
USER_CODE = "WXYZ-2468"
AJAX = {"HTTP_X_REQUESTED_WITH": "XMLHttpRequest"}
TOKEN = {"access_token": "at", "expires_in": 3600, "refresh_token": "rt-from-device"}
PENDING = (400, {"error": "authorization_pending"})


def device_answer(**overrides) -> tuple[int, dict]:
    return 200, {
        "device_code": DEVICE_CODE,
        "user_code": USER_CODE,
        "verification_uri": "https://login.example.com/device",
        "expires_in": 900,
        "interval": 1,
        **overrides,
    }


@pytest.fixture
def token_endpoint(token_endpoint):
    token_endpoint.scripted["/device"] = [device_answer()]
    token_endpoint.answer = (200, TOKEN)
    return token_endpoint


def oauth_profile(token_url: str, device_url: str, **fields) -> SMTPProfile:
    return make_oauth_profile(
        **{
            "name": "Office",
            "oauth_token_endpoint": token_url,
            "oauth_device_authorization_endpoint": device_url,
            **fields,
        }
    )


@pytest.fixture
def profile(token_endpoint):
    return oauth_profile(token_endpoint.url, token_endpoint.root + "/device")


def device_url(profile) -> str:
    return reverse("admin:smtpconfig_smtpprofile_oauth_device", args=[profile.pk])


def poll_url(profile) -> str:
    return reverse("admin:smtpconfig_smtpprofile_oauth_device_poll", args=[profile.pk])


def start(client, profile):
    response = client.post(device_url(profile))
    assert response.status_code == 302 and response["Location"] == device_url(profile)
    return client.get(response["Location"])


def token_requests(token_endpoint) -> list[dict]:
    return [request for request in token_endpoint.requests if "path" not in request]


def test_the_change_page_offers_connect_with_a_code_where_there_is_a_device_endpoint(
    admin_client, profile
):
    html = page(admin_client.get(change_url(profile)))
    assert f'formaction="{device_url(profile)}"' in html and "Connect with a code" in html
    SMTPProfile.objects.filter(pk=profile.pk).update(oauth_device_authorization_endpoint="")
    assert "Connect with a code" not in page(admin_client.get(change_url(profile)))
    SMTPProfile.objects.filter(pk=profile.pk).update(
        oauth_device_authorization_endpoint="https://x.example/device",
        oauth_grant="client_credentials",
    )
    assert "Connect with a code" not in page(admin_client.get(change_url(profile)))


def test_start_shows_the_user_code_and_link_but_never_the_device_code(
    admin_client, profile, token_endpoint
):
    response = start(admin_client, profile)
    html = page(response)
    assert USER_CODE in html and DEVICE_CODE not in html
    assert (
        'href="https://login.example.com/device" target="_blank" rel="noopener noreferrer"' in html
    )
    assert "(for 15 more minutes)" in html and 'role="status"' in html
    assert 'data-interval="1"' in html
    assert "I have signed in – check now" in html
    # Breadcrumbs back to the profile.
    assert f'<a href="{change_url(profile)}">Office</a>' in html
    [asked] = token_endpoint.requests
    assert asked["path"] == "/device"
    assert (asked["client_id"], asked["scope"]) == ("client-1", "SMTP.Send offline_access")
    # The device code is kept on the server, in the session, under this profile.
    assert admin_client.session[_SESSION_KEY][str(profile.pk)]["device_code"] == DEVICE_CODE


def test_a_verification_uri_that_is_not_a_web_address_is_not_a_link(
    admin_client, profile, token_endpoint
):
    token_endpoint.scripted["/device"] = [device_answer(verification_uri="javascript:alert(1)")]
    html = page(start(admin_client, profile))
    assert 'href="javascript:' not in html and "javascript:alert(1)" in html


def test_polls_pending_then_slow_down_then_a_token_connects_the_account(
    admin_client, profile, token_endpoint
):
    start(admin_client, profile)
    token_endpoint.scripted["/token"] = [PENDING, (400, {"error": "slow_down"}), (200, TOKEN)]

    first = admin_client.post(poll_url(profile), **AJAX).json()
    assert (first["state"], first["interval"], first["final"]) == ("waiting", 1, False)
    second = admin_client.post(poll_url(profile), **AJAX).json()
    assert (second["state"], second["interval"]) == ("waiting", 6)  # slow_down: 5 s more
    assert admin_client.session[_SESSION_KEY][str(profile.pk)]["interval"] == 6
    assert SMTPProfile.objects.get(pk=profile.pk).oauth_refresh_token == ""

    third = admin_client.post(poll_url(profile), **AJAX).json()
    assert third["state"] == "connected" and third["redirect"] == change_url(profile)
    stored = SMTPProfile.objects.get(pk=profile.pk)
    assert stored.oauth_refresh_token == "rt-from-device"
    assert stored.oauth_account == "mailer@example.com" and stored.oauth_connected_at
    assert LogEntry.objects.get(object_id=str(profile.pk)).get_change_message() == (
        "OAuth2 account connected with a code"
    )
    sent = token_requests(token_endpoint)
    assert len(sent) == 3
    assert sent[0]["grant_type"] == "urn:ietf:params:oauth:grant-type:device_code"
    assert (sent[0]["device_code"], sent[0]["client_secret"]) == (DEVICE_CODE, "client-secret")
    # The sign-in is over: the session forgets the code, the profile page says so.
    assert str(profile.pk) not in admin_client.session[_SESSION_KEY]
    assert "The account is connected" in page(admin_client.get(change_url(profile)))


def test_without_javascript_check_now_shows_the_page_again_then_goes_to_the_profile(
    admin_client, profile, token_endpoint
):
    start(admin_client, profile)
    token_endpoint.scripted["/token"] = [PENDING, (200, TOKEN)]
    waiting = admin_client.post(poll_url(profile))
    assert waiting.status_code == 200
    assert "Not signed in yet" in page(waiting) and USER_CODE in page(waiting)
    assert DEVICE_CODE not in page(waiting)
    done = admin_client.post(poll_url(profile), follow=True)
    assert done.redirect_chain == [(change_url(profile), 302)]
    assert "The account is connected" in page(done)
    assert SMTPProfile.objects.get(pk=profile.pk).oauth_refresh_token == "rt-from-device"


def test_an_expired_code_says_so_and_offers_to_start_again(admin_client, profile, token_endpoint):
    start(admin_client, profile)
    token_endpoint.scripted["/token"] = [(400, {"error": "expired_token"})]
    answer = admin_client.post(poll_url(profile), **AJAX).json()
    assert answer["state"] == "expired" and answer["final"] and "expired" in answer["message"]
    assert SMTPProfile.objects.get(pk=profile.pk).oauth_refresh_token == ""
    # The code is gone: asking again is refused, without asking the provider.
    again = admin_client.post(poll_url(profile), follow=True)
    assert "No sign-in with a code is under way" in page(again)
    assert len(token_requests(token_endpoint)) == 1


def test_without_javascript_the_expired_page_has_a_start_again_button(
    admin_client, profile, token_endpoint
):
    start(admin_client, profile)
    token_endpoint.scripted["/token"] = [(400, {"error": "expired_token"})]
    html = page(admin_client.post(poll_url(profile)))
    assert "The code expired" in html and USER_CODE not in html
    assert f'action="{device_url(profile)}" id="smtpconfig-device-restart">' in html
    assert 'id="smtpconfig-device-check" hidden>' in html


def test_a_code_past_its_time_is_expired_without_asking_the_provider(
    admin_client, profile, token_endpoint
):
    start(admin_client, profile)
    session = admin_client.session
    session[_SESSION_KEY][str(profile.pk)]["expires_at"] = 0
    session.save()
    answer = admin_client.post(poll_url(profile), **AJAX).json()
    assert answer["state"] == "expired"
    assert token_requests(token_endpoint) == []


def test_a_refused_sign_in_says_so_and_stores_nothing(admin_client, profile, token_endpoint):
    start(admin_client, profile)
    token_endpoint.scripted["/token"] = [(400, {"error": "access_denied"})]
    answer = admin_client.post(poll_url(profile), **AJAX).json()
    assert answer["state"] == "denied" and "refused" in answer["message"] and answer["final"]
    assert SMTPProfile.objects.get(pk=profile.pk).oauth_refresh_token == ""
    assert not LogEntry.objects.exists()


def test_another_error_is_named_and_stores_nothing(admin_client, profile, token_endpoint):
    start(admin_client, profile)
    token_endpoint.scripted["/token"] = [
        (401, {"error": "invalid_client", "error_description": "no"})
    ]
    answer = admin_client.post(poll_url(profile), **AJAX).json()
    assert answer["state"] == "failed" and "invalid_client" in answer["message"]
    assert SMTPProfile.objects.get(pk=profile.pk).oauth_refresh_token == ""


def test_a_token_without_refresh_token_stores_nothing(admin_client, profile, token_endpoint):
    start(admin_client, profile)
    token_endpoint.scripted["/token"] = [(200, {"access_token": "at", "expires_in": 3600})]
    answer = admin_client.post(poll_url(profile), **AJAX).json()
    assert answer["state"] == "failed" and "offline_access" in answer["message"]
    assert SMTPProfile.objects.get(pk=profile.pk).oauth_connected_at is None


def test_an_unreachable_token_endpoint_stores_nothing_and_keeps_the_code(
    admin_client, token_endpoint
):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = f"https://127.0.0.1:{sock.getsockname()[1]}/token"
    profile = oauth_profile(closed, token_endpoint.root + "/device", timeout=2)
    start(admin_client, profile)
    answer = admin_client.post(poll_url(profile), **AJAX).json()
    assert answer["state"] == "unreachable" and not answer["final"]
    assert "could not be reached" in answer["message"]
    assert str(profile.pk) in admin_client.session[_SESSION_KEY]  # it may ask again
    assert SMTPProfile.objects.get(pk=profile.pk).oauth_refresh_token == ""


def test_a_provider_that_gives_no_code_is_named_on_the_profile_page(
    admin_client, profile, token_endpoint
):
    token_endpoint.scripted["/device"] = [(400, {"error": "unauthorized_client"})]
    response = admin_client.post(device_url(profile), follow=True)
    assert response.redirect_chain == [(change_url(profile), 302)]
    assert "unauthorized_client" in page(response)
    assert not admin_client.session.get(_SESSION_KEY)


def test_a_profile_without_a_device_endpoint_is_refused(admin_client, token_endpoint):
    profile = oauth_profile(token_endpoint.url, "")
    response = admin_client.post(device_url(profile), follow=True)
    assert "device authorization endpoint" in page(response)
    assert token_endpoint.requests == []


def test_without_change_permission_nothing_starts_nor_polls(admin_client, profile, token_endpoint):
    start(admin_client, profile)
    viewer = client_with("view_smtpprofile")
    assert viewer.post(device_url(profile)).status_code == 403
    assert viewer.post(poll_url(profile), **AJAX).status_code == 403
    assert len(token_endpoint.requests) == 1  # the admin's start only


def test_a_sign_in_started_for_another_profile_is_refused(admin_client, profile, token_endpoint):
    other = oauth_profile(
        token_endpoint.url, token_endpoint.root + "/device", name="Other", is_default=False
    )
    start(admin_client, profile)
    refused = admin_client.post(poll_url(other), **AJAX)
    assert refused.status_code == 400 and "No sign-in with a code" in refused.json()["message"]
    page_refused = admin_client.get(device_url(other), follow=True)
    assert page_refused.redirect_chain == [(change_url(other), 302)]
    assert "No sign-in with a code is under way for “Other”" in page(page_refused)
    assert token_requests(token_endpoint) == []
    # The first profile's sign-in is untouched and still completes.
    assert admin_client.post(poll_url(profile), **AJAX).json()["state"] == "connected"
    assert SMTPProfile.objects.get(pk=other.pk).oauth_refresh_token == ""


def test_polling_is_post_only(admin_client, profile):
    start(admin_client, profile)
    assert admin_client.get(poll_url(profile)).status_code == 405
