"""The OAuth2 client on Authlib (issue 12): client authentication in the form or with HTTP
Basic, errors in our words, the network policy, timeout and answer cap on its HTTP, the
device flow, the account an ID token names, and access tokens shared between processes
through SMTPCONFIG["CACHE"]. Token endpoints are real HTTPS servers on 127.0.0.1."""

import base64
import json
import pickle
import socket
import time
import urllib.parse

import pytest
from django.conf import settings as django_settings
from django.urls import reverse

from smtpconfig.exceptions import TokenRefused
from smtpconfig.models import SMTPProfile
from smtpconfig.providers import device_code
from smtpconfig.transport import oauth_client, tokens
from smtpconfig.transport.oauth_client import request_token
from smtpconfig.transport.tokens import TokenRequest, cached_token, fetch_token

from .helpers import make_oauth_profile, run_in_another_process

SECRET = "s3cret:Ω+/"  # a colon, a non-Latin-1 letter and form-encoding characters
CALLBACK = reverse("admin:smtpconfig_smtpprofile_oauth_callback")


@pytest.fixture(autouse=True)
def fresh_client_state():
    tokens._cache.tokens.clear()
    oauth_client.auth_methods.by_url.clear()
    yield
    tokens._cache.tokens.clear()
    oauth_client.auth_methods.by_url.clear()


def client_credentials(token_endpoint, secret=SECRET, **params):
    return request_token(
        token_endpoint.url,
        grant_type="client_credentials",
        client_id="client-1",
        client_secret=secret,
        scope="https://outlook.office365.com/.default",
        timeout=5,
        **params,
    )


def basic_credentials(header: str) -> tuple[str, str]:
    assert header.startswith("Basic ")
    user, _, password = base64.b64decode(header[6:]).decode("ascii").partition(":")
    return urllib.parse.unquote_plus(user), urllib.parse.unquote_plus(password)


def id_token(**claims) -> str:
    def part(data):
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'RS256'})}.{part(claims)}.c2lnbmF0dXJl"


# Client authentication.


def test_the_secret_goes_in_the_form_first(token_endpoint):
    assert client_credentials(token_endpoint)["access_token"] == "at-1"
    [form] = token_endpoint.requests
    assert form["client_id"] == "client-1" and form["client_secret"] == SECRET
    assert form["grant_type"] == "client_credentials"
    assert token_endpoint.authorizations == [""]


def test_a_server_that_wants_basic_gets_it_and_it_is_remembered(token_endpoint):
    token_endpoint.require_basic = True
    assert client_credentials(token_endpoint)["access_token"] == "at-1"
    assert [bool(header) for header in token_endpoint.authorizations] == [False, True]
    # RFC 6749 section 2.3.1: each part form-urlencoded, so ":" and "Ω" arrive whole.
    assert basic_credentials(token_endpoint.authorizations[1]) == ("client-1", SECRET)
    assert "client_secret" not in token_endpoint.requests[1]
    # The next request to this endpoint goes straight to Basic.
    client_credentials(token_endpoint)
    assert len(token_endpoint.requests) == 3 and token_endpoint.authorizations[2].startswith(
        "Basic "
    )


def test_a_wrong_secret_is_tried_both_ways_once_and_refused(token_endpoint):
    token_endpoint.answer = (401, {"error": "invalid_client", "error_description": "bad secret"})
    with pytest.raises(TokenRefused) as refused:
        client_credentials(token_endpoint)
    assert refused.value.error == "invalid_client" and SECRET not in str(refused.value)
    assert len(token_endpoint.requests) == 2
    assert oauth_client.auth_methods.by_url == {}


def test_a_public_client_sends_its_client_id_only_and_is_not_retried(token_endpoint):
    token_endpoint.answer = (400, {"error": "invalid_client"})
    with pytest.raises(TokenRefused, match="invalid_client"):
        client_credentials(token_endpoint, secret="")
    [form] = token_endpoint.requests
    assert form == {
        "grant_type": "client_credentials",
        "client_id": "client-1",
        "scope": "https://outlook.office365.com/.default",
    }
    assert token_endpoint.authorizations == [""]


def test_a_refresh_without_a_refresh_token_is_the_endpoints_to_refuse(token_endpoint):
    token_endpoint.answer = (400, {"error": "invalid_request", "error_description": "no token"})
    with pytest.raises(TokenRefused, match="invalid_request"):
        fetch_token(TokenRequest(token_endpoint.url, "client-1", client_secret="s"), 5)
    [form] = token_endpoint.requests
    assert form["grant_type"] == "refresh_token" and "refresh_token" not in form


# Answers read in our words.


def test_a_microsoft_style_description_with_line_breaks_and_quotes_is_kept(token_endpoint):
    # Authlib's own error class refuses such text; the endpoint's words must still show.
    description = 'AADSTS70000: The "code" was already redeemed.\r\nTrace ID: 1'
    token_endpoint.answer = (400, {"error": "invalid_grant", "error_description": description})
    with pytest.raises(TokenRefused) as refused:
        client_credentials(token_endpoint)
    assert refused.value.error == "invalid_grant" and refused.value.description == description


@pytest.mark.parametrize(
    "answer, error, words",
    [
        ((502, b"<html>Bad gateway</html>"), "invalid_response", "HTTP 502 without JSON"),
        ((503, {"error": "temporarily_unavailable"}), "temporarily_unavailable", ""),
        ((400, {"message": "no"}), "http_400", ""),
        ((200, {"token_type": "Bearer"}), "http_200", ""),
        ((200, b"{" + b" " * 70_000 + b"}"), "invalid_response", "too long"),
    ],
)
def test_an_answer_without_a_token_is_refused_with_what_it_says(
    token_endpoint, answer, error, words
):
    token_endpoint.answer = answer
    with pytest.raises(TokenRefused) as refused:
        client_credentials(token_endpoint)
    assert refused.value.error == error and words in str(refused.value)


def test_a_malformed_lifetime_is_taken_as_an_hour(token_endpoint):
    token_endpoint.answer = (200, {"access_token": "at-1", "expires_in": "soon"})
    request = TokenRequest(token_endpoint.url, "client-1", "client_credentials", client_secret="s")
    assert 3590 <= fetch_token(request, 5).expires_in <= 3600


# The app's network rules apply to every request Authlib makes.


def test_blocked_networks_apply_to_token_and_device_code_requests(token_endpoint, settings):
    settings.SMTPCONFIG = {**settings.SMTPCONFIG, "BLOCKED_NETWORKS": ["127.0.0.0/8"]}
    with pytest.raises(OSError, match="not allowed"):
        client_credentials(token_endpoint)
    with pytest.raises(OSError, match="not allowed"):
        device_code.start(token_endpoint.root + "/devicecode", "client-1", "scope", 5)
    assert token_endpoint.requests == []


def test_an_endpoint_that_never_answers_is_given_up_within_the_timeout(settings):
    settings.SMTPCONFIG = {**settings.SMTPCONFIG, "OAUTH_ALLOW_HTTP": True}
    with socket.socket() as silent:  # accepts connections (backlog), never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(4)
        url = f"http://127.0.0.1:{silent.getsockname()[1]}/token"
        started = time.monotonic()
        with pytest.raises(TimeoutError):
            request_token(url, grant_type="client_credentials", client_id="c", timeout=0.5)
    assert time.monotonic() - started < 3


# The device code flow (RFC 8628) on the same client.


def device(token_endpoint):
    return device_code.DeviceCode("dc-1", "ABCD", "https://x", 60, 5)


def test_device_polling_follows_pending_and_slow_down_then_gives_the_account(token_endpoint):
    token_endpoint.scripted = {
        "/token": [
            (400, {"error": "authorization_pending"}),
            (400, {"error": "slow_down"}),
            (400, {"error": "access_denied", "error_description": "no"}),
            (
                200,
                {
                    "access_token": "at",
                    "refresh_token": "1//r",
                    "id_token": id_token(preferred_username="Someone@Example.com"),
                },
            ),
        ]
    }
    poll = {"token_url": token_endpoint.url, "client_id": "client-1", "timeout": 5}
    with pytest.raises(device_code.Pending) as pending:
        device_code.poll(device(token_endpoint), **poll)
    assert pending.value.interval == 5
    with pytest.raises(device_code.Pending) as pending:
        device_code.poll(device(token_endpoint), **poll, interval=7)
    assert pending.value.interval == 12
    with pytest.raises(TokenRefused, match="access_denied"):
        device_code.poll(device(token_endpoint), **poll)
    token = device_code.poll(device(token_endpoint), **poll)
    assert token.refresh_token == "1//r" and token.account == "Someone@Example.com"
    assert token_endpoint.requests[0] == {
        "grant_type": device_code.DEVICE_CODE_GRANT,
        "device_code": "dc-1",
        "client_id": "client-1",
    }


def test_the_account_is_read_from_the_id_token_claims():
    assert oauth_client.id_token_account(id_token(email="a@x.org", upn="b@x.org")) == "a@x.org"
    assert oauth_client.id_token_account(id_token(upn="b@x.org")) == "b@x.org"
    assert oauth_client.id_token_account(id_token(sub="123")) == ""
    assert oauth_client.id_token_account("not a token") == ""
    assert oauth_client.id_token_account(id_token(email="a@x.org\nBcc: c@y.org")) == ""


# "Connect account": the callback names the account that was connected.


@pytest.fixture
def profile(token_endpoint, db):
    return make_oauth_profile(
        name="Connect me",
        oauth_authorization_endpoint="https://login.example.com/authorize?tenant=x",
        oauth_token_endpoint=token_endpoint.url,
    )


def connect(admin_client, profile, **callback) -> str:
    url = reverse("admin:smtpconfig_smtpprofile_oauth_connect", args=[profile.pk])
    location = urllib.parse.urlsplit(admin_client.get(url)["Location"])
    query = dict(urllib.parse.parse_qsl(location.query))
    assert query["tenant"] == "x"  # the endpoint's own query is kept
    assert len(query["code_challenge"]) >= 43 and query["code_challenge_method"] == "S256"
    params = {"state": query["state"], **callback}
    return admin_client.get(CALLBACK, params, follow=True).content.decode()


@pytest.mark.parametrize(
    "claims, account, warned",
    [
        (None, "mailer@example.com", False),
        ({"email": "Mailer@Example.com"}, "Mailer@Example.com", False),
        ({"preferred_username": "boss@example.com"}, "boss@example.com", True),
    ],
)
def test_the_callback_names_the_connected_account(
    admin_client, profile, token_endpoint, claims, account, warned
):
    answer = {"access_token": "at", "expires_in": 3600, "refresh_token": "1//r"}
    if claims is not None:
        answer["id_token"] = id_token(**claims)
    token_endpoint.answer = (200, answer)
    page = connect(admin_client, profile, code="the-code")
    stored = SMTPProfile.objects.get(pk=profile.pk)
    assert stored.oauth_account == account and stored.oauth_refresh_token == "1//r"
    assert ("SendAsDenied" in page) is warned
    assert "The account is connected" in page and account in page


def test_a_callback_without_a_code_asks_nothing_and_changes_nothing(
    admin_client, profile, token_endpoint
):
    assert "has no authorization code" in connect(admin_client, profile)
    assert "has no authorization code" in connect(admin_client, profile, code="")
    assert token_endpoint.requests == []
    assert SMTPProfile.objects.get(pk=profile.pk).oauth_refresh_token == ""


# Access tokens shared between processes through SMTPCONFIG["CACHE"].


def shared_settings(settings, location, ca_pem) -> tuple[dict, dict]:
    caches = {
        "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
        "tokens": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": str(location),
        },
    }
    smtpconfig = {**settings.SMTPCONFIG, "CACHE": "tokens", "OAUTH_CA_CERTIFICATE": ca_pem}
    settings.CACHES, settings.SMTPCONFIG = caches, smtpconfig
    return caches, smtpconfig


def refresh_request(token_endpoint) -> TokenRequest:
    return TokenRequest(token_endpoint.url, "client-1", client_secret="s", refresh_token="1//r")


@pytest.mark.django_db
def test_another_process_uses_the_token_from_the_shared_cache(
    token_endpoint, settings, tmp_path, ca_pem
):
    caches, smtpconfig = shared_settings(settings, tmp_path / "cache", ca_pem)
    token_endpoint.answer = (200, {"access_token": "at-shared-Ω", "expires_in": 3600})
    request = refresh_request(token_endpoint)
    fetch_token(request, 5)
    # Kept encrypted, until a minute before the token expires.
    [stored] = (tmp_path / "cache").iterdir()
    raw = stored.read_bytes()
    assert "at-shared-Ω".encode() not in raw and b"at-shared" not in raw
    with stored.open("rb") as cached:
        assert abs(pickle.load(cached) - (time.time() + 3600 - 60)) < 10  # noqa: S301
    run_in_another_process(
        f"""
from django.test.utils import override_settings
with override_settings(CACHES={caches!r}, SMTPCONFIG={smtpconfig!r}):
    from smtpconfig.transport.tokens import TokenRequest, cached_token, fetch_token
    request = TokenRequest(
        {token_endpoint.url!r}, "client-1", client_secret="s", refresh_token="1//r"
    )
    token = cached_token(request) or fetch_token(request, 5)
    assert token.access_token == "at-shared-Ω", "another token"
"""
    )
    assert len(token_endpoint.requests) == 1
    # And in this process, once its own memory is gone.
    tokens._cache.tokens.clear()
    assert cached_token(request).access_token == "at-shared-Ω"
    tokens.forget_token(request)
    tokens._cache.tokens.clear()
    assert cached_token(request) is None


def test_a_token_about_to_expire_is_not_shared(token_endpoint, settings, tmp_path, ca_pem):
    shared_settings(settings, tmp_path / "cache", ca_pem)
    token_endpoint.answer = (200, {"access_token": "at-short", "expires_in": 50})
    fetch_token(refresh_request(token_endpoint), 5)
    assert not (tmp_path / "cache").exists() or not list((tmp_path / "cache").iterdir())


@pytest.mark.parametrize("failure", ["unusable", "other key"])
def test_a_failing_cache_never_stops_a_token(
    token_endpoint, settings, tmp_path, ca_pem, failure, caplog
):
    location = tmp_path / "cache"
    shared_settings(settings, location, ca_pem)
    request = refresh_request(token_endpoint)
    if failure == "unusable":
        location.write_text("a file where the cache's directory should be")
    else:
        fetch_token(request, 5)  # stored with a key that is then replaced
        settings.SMTPCONFIG = {
            **settings.SMTPCONFIG,
            "ENCRYPTION_KEYS": ["Zm9yLXRoZS10ZXN0cy1vbmx5LWEtc2Vjb25kLWtleSE="],
        }
        assert django_settings.SMTPCONFIG["ENCRYPTION_KEYS"] != [settings.TEST_ENCRYPTION_KEY]
    tokens._cache.tokens.clear()
    assert cached_token(request) is None
    assert fetch_token(request, 5).access_token == "at-1"
    tokens.forget_token(request)
    assert "The OAuth2 token cache 'tokens' failed (" in caplog.text
    assert "at-1" not in caplog.text


def test_smtp_oauth_connect_names_the_account_the_device_flow_signed_in(profile, token_endpoint):
    from io import StringIO

    from django.core.management import call_command

    SMTPProfile.objects.filter(pk=profile.pk).update(
        oauth_device_authorization_endpoint=token_endpoint.root + "/devicecode"
    )
    token_endpoint.scripted = {
        "/devicecode": [
            (200, {"device_code": "dc", "user_code": "U", "verification_uri": "https://x"}),
        ],
        "/token": [
            (
                200,
                {
                    "access_token": "at",
                    "refresh_token": "1//r",
                    "id_token": id_token(upn="someone.else@example.com"),
                },
            )
        ],
    }
    out = StringIO()
    call_command("smtp_oauth_connect", "--profile", profile.name, stdout=out)
    assert "signs in as someone.else@example.com" in out.getvalue()
    assert "SendAsDenied" in out.getvalue()
    assert SMTPProfile.objects.get(pk=profile.pk).oauth_account == "someone.else@example.com"
