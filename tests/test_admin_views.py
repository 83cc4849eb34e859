"""The profile page's own views (test, detect, use these settings) at their own URLs."""

import json

import pytest
from django.urls import reverse

from smtpconfig.models import SMTPProfile

from .helpers import profile_form

pytestmark = pytest.mark.django_db

ADD_URL = reverse("admin:smtpconfig_smtpprofile_add")


def view_url(name, profile=None):
    if profile is None:
        return reverse(f"admin:smtpconfig_smtpprofile_add_{name}")
    return reverse(f"admin:smtpconfig_smtpprofile_{name}", args=[profile.pk])


def test_each_button_posts_to_its_own_view(admin_client, make_profile):
    profile = make_profile()
    html = admin_client.get(
        reverse("admin:smtpconfig_smtpprofile_change", args=[profile.pk])
    ).content.decode()
    assert f'formaction="{view_url("test", profile)}"' in html
    assert f'formaction="{view_url("detect", profile)}"' in html
    add_html = admin_client.get(ADD_URL).content.decode()
    assert f'formaction="{view_url("test")}"' in add_html
    assert f'formaction="{view_url("detect")}"' in add_html


def test_the_test_view_shows_the_report_in_the_form_without_saving(
    admin_client, make_profile, plain_server
):
    profile = make_profile(port=plain_server.port)
    response = admin_client.post(
        view_url("test", profile),
        profile_form(profile, from_name="Typed Name", _send_test="1", _test_to="a@example.org"),
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert "accepted the test email" in html
    assert 'value="Typed Name"' in html
    assert len(plain_server.messages) == 1
    assert SMTPProfile.objects.get(pk=profile.pk).from_name == "Example Site"


def test_the_test_view_works_on_the_add_page(admin_client, plain_server, make_profile):
    template = make_profile(port=plain_server.port)
    data = profile_form(template, name="New", _check_connection="1", _test_to="a@b.org")
    del data["is_default"]
    response = admin_client.post(view_url("test"), data, HTTP_X_REQUESTED_WITH="XMLHttpRequest")
    assert response.json()["ok"] is True
    assert not SMTPProfile.objects.filter(name="New").exists()


def test_a_get_of_a_view_url_shows_the_page(admin_client, make_profile):
    profile = make_profile()
    assert admin_client.get(view_url("test", profile)).status_code == 200


def test_use_settings_fills_the_form_from_a_valid_candidate_only(admin_client, make_profile):
    profile = make_profile()
    candidate = {"host": "smtp.example.net", "port": 465, "security": "ssl", "username": "u"}
    response = admin_client.post(
        view_url("use_settings", profile),
        profile_form(profile, _use_settings=json.dumps(candidate)),
    )
    html = response.content.decode()
    assert 'value="smtp.example.net"' in html and 'value="465"' in html
    forged = {**candidate, "host": "bad host\r\nX: y"}
    response = admin_client.post(
        view_url("use_settings", profile), profile_form(profile, _use_settings=json.dumps(forged))
    )
    assert "Those settings could not be read." in response.content.decode()
    assert SMTPProfile.objects.get(pk=profile.pk).host == profile.host


@pytest.mark.parametrize("value", ["", "[]", "{", '{"host": 1}', '{"port": true}', "null"])
def test_use_settings_refuses_what_is_not_a_candidate(admin_client, make_profile, value):
    profile = make_profile()
    response = admin_client.post(
        view_url("use_settings", profile), profile_form(profile, _use_settings=value)
    )
    assert response.status_code == 200
    assert "Those settings could not be read." in response.content.decode()


def test_detect_view_answers_json(admin_client):
    response = admin_client.post(
        view_url("detect"),
        {"from_email": "someone@example.com", "_detect": "1"},
        HTTP_X_REQUESTED_WITH="XMLHttpRequest",
    )
    assert response.status_code == 200
    assert set(response.json()) == {"html", "candidates"}


def test_after_a_test_without_javascript_save_still_saves(admin_client, make_profile, plain_server):
    """The page a view renders posts back to the change page, not to the view: "Save"
    after a test saves, it does not run another test."""
    profile = make_profile(port=plain_server.port)
    change = reverse("admin:smtpconfig_smtpprofile_change", args=[profile.pk])
    page = admin_client.post(
        view_url("test", profile), profile_form(profile, _check_connection="1", _test_to="a@b.org")
    ).content.decode()
    assert f'action="{change}"' in page
    # A browser that posts the form to the URL it is on (the view's) saves too.
    response = admin_client.post(
        view_url("test", profile), profile_form(profile, from_name="Saved", _save="Save")
    )
    assert response.status_code == 302
    assert SMTPProfile.objects.get(pk=profile.pk).from_name == "Saved"
