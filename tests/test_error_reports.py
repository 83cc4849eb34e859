"""Django's error reports (the debug page, mails to ADMINS) never show a secret, with DEBUG
on or off (issue 10, findings 11 and 14)."""

import sys

import pytest
from cryptography.fernet import Fernet
from django.core import mail
from django.test import RequestFactory
from django.views.debug import ExceptionReporter

from smtpconfig.checks import check_error_reports
from smtpconfig.exceptions import InvalidEncryptionKey

from .helpers import PASSWORD, USER

pytestmark = pytest.mark.django_db


def html_report(request=None) -> str:
    """The HTML report Django would show or mail for the exception being handled."""
    return ExceptionReporter(request, *sys.exc_info()).get_traceback_html()


def reports_of(action) -> tuple[str, str]:
    """The HTML and text reports of the exception ``action`` raises."""
    try:
        action()
    except InvalidEncryptionKey:
        reporter = ExceptionReporter(None, *sys.exc_info())
        return reporter.get_traceback_html(), reporter.get_traceback_text()
    pytest.fail("a broken key must be reported")


@pytest.mark.parametrize("debug", [True, False], ids=["debug", "production"])
def test_a_valid_key_next_to_a_broken_one_is_not_in_the_report(
    use_backend, settings, make_profile, debug
):
    valid = Fernet.generate_key().decode()
    settings.SMTPCONFIG = {**settings.SMTPCONFIG, "ENCRYPTION_KEYS": [valid]}
    make_profile(username=USER, password=PASSWORD)
    settings.SMTPCONFIG = {**settings.SMTPCONFIG, "ENCRYPTION_KEYS": f"{valid},junk"}
    settings.DEBUG = debug
    # The report starts at the frame that caught the exception, which is not this one
    # (this test holds the key in a local of its own).
    html, text = reports_of(lambda: mail.send_mail("Hi", "Body", None, ["x@example.org"]))
    assert "number 2" in html
    assert valid not in html and valid not in text


@pytest.mark.parametrize("marked", [True, False], ids=["marked", "unmarked-view"])
def test_a_typed_password_is_not_on_the_debug_page(settings, marked):
    settings.DEBUG = True
    request = RequestFactory().post(
        "/admin/smtpconfig/smtpprofile/add/", {"password": PASSWORD, "name": "Visible"}
    )
    if marked:
        request.sensitive_post_parameters = ["password"]  # what the admin's view marks
    try:
        raise RuntimeError("a bug in a view")
    except RuntimeError:
        html = html_report(request)
    assert "Visible" in html  # the report is there, with the other fields
    assert PASSWORD not in html
    assert PASSWORD.replace("&", "&amp;") not in html


def test_secret_looking_locals_are_hidden_even_without_a_marker(settings):
    settings.DEBUG = True

    def smtplib_like_login(user, password):
        raise ValueError("malformed challenge")

    try:
        smtplib_like_login(USER, PASSWORD)
    except ValueError:
        html = html_report()
    assert "malformed challenge" in html
    assert PASSWORD not in html


def test_check_w006_names_the_filter_when_it_is_missing(settings):
    assert check_error_reports() == []
    settings.DEFAULT_EXCEPTION_REPORTER_FILTER = "django.views.debug.SafeExceptionReporterFilter"
    [warning] = check_error_reports()
    assert warning.id == "smtpconfig.W006"
    assert "smtpconfig.error_reports.SecretSafeExceptionReporterFilter" in warning.hint
