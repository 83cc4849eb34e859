"""Shared fixtures: real SMTP servers on 127.0.0.1, a test CA, profiles and an admin."""

from __future__ import annotations

import os
import ssl

import pytest
import trustme
from hypothesis import settings as hypothesis_settings

from smtpconfig.models import Security, SMTPProfile

from .browser import admin, browser, js, open_page  # noqa: F401 (fixtures for browser tests)
from .helpers import PASSWORD, USER
from .smtpd import RecordingHandler, running_smtp_server
from .tokend import running_token_endpoint

# Property tests: the same examples on every CI run (CI=true), so that a red run can be
# repeated and is never down to luck; new ones on a developer's machine, where a failure
# found once is kept in .hypothesis/ and tried first next time.
hypothesis_settings.register_profile("ci", derandomize=True, database=None, print_blob=True)
hypothesis_settings.register_profile("dev")
hypothesis_settings.load_profile(
    os.environ.get("HYPOTHESIS_PROFILE") or ("ci" if os.environ.get("CI") else "dev")
)


@pytest.fixture(scope="session", autouse=True)
def loopback_dns():
    """The DNS server the test settings point at (no names: every look-up is NXDOMAIN)."""
    from django.conf import settings

    from .dnsd import Zone, running_dns_server

    host, port = settings.TEST_DNS_ADDRESS.rsplit(":", 1)
    with running_dns_server(Zone({}), port=int(port)) as address:
        yield address


@pytest.fixture(autouse=True)
def english_after_each_test():
    """A request in Russian leaves Russian active in the thread: start each test in English."""
    from django.utils import translation

    yield
    translation.activate("en")


@pytest.fixture(autouse=True)
def fresh_profile_snapshot():
    """Each test starts without the process's cached profiles (or a cached generation)."""
    from django.core.cache import cache

    from smtpconfig.delivery import profiles as routing

    routing._snapshot.generation = None
    cache.clear()
    yield


@pytest.fixture(autouse=True)
def empty_connection_pool():
    """Each test starts and ends with no pooled SMTP connection (its servers are gone)."""
    from smtpconfig.delivery.pool import POOL

    POOL.clear(polite=False)
    yield
    POOL.clear(polite=False)


@pytest.fixture
def use_backend(settings):
    """The site's mail through smtpconfig's backend (pytest-django swaps in locmem)."""
    settings.EMAIL_BACKEND = "smtpconfig.backends.EmailBackend"


@pytest.fixture(scope="session")
def test_ca() -> trustme.CA:
    """A throw-away certificate authority."""
    return trustme.CA()


@pytest.fixture(scope="session")
def ca_pem(test_ca) -> str:
    """The test CA's certificate, as an admin would paste it."""
    return test_ca.cert_pem.bytes().decode("ascii")


@pytest.fixture(scope="session")
def server_tls_context(test_ca) -> ssl.SSLContext:
    """A server context with a certificate for localhost and 127.0.0.1, signed by the test CA."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    test_ca.issue_cert("localhost", "127.0.0.1", "::1").configure_cert(context)
    return context


@pytest.fixture
def token_endpoint(settings, server_tls_context, ca_pem):
    """An OAuth2 token endpoint over HTTPS (tests/tokend.py), its certificate from the test
    CA and that CA set as SMTPCONFIG's OAUTH_CA_CERTIFICATE. It answers tokend's default (an
    access token for an hour) until a test or a module's fixture of the same name sets
    ``answer`` or ``scripted``."""
    settings.SMTPCONFIG = {**settings.SMTPCONFIG, "OAUTH_CA_CERTIFICATE": ca_pem}
    with running_token_endpoint(server_tls_context) as endpoint:
        yield endpoint


@pytest.fixture
def plain_server():
    """A plain SMTP server without AUTH."""
    with running_smtp_server() as server:
        yield server


@pytest.fixture
def auth_server():
    """A plain SMTP server that requires AUTH (PLAIN or LOGIN)."""
    with running_smtp_server(users={USER: PASSWORD}) as server:
        yield server


@pytest.fixture
def starttls_server(server_tls_context):
    """An SMTP server that requires STARTTLS before AUTH."""
    with running_smtp_server(
        users={USER: PASSWORD},
        starttls_context=server_tls_context,
        require_starttls=True,
        auth_require_tls=True,
    ) as server:
        yield server


@pytest.fixture
def ssl_server(server_tls_context):
    """An SMTP server with implicit TLS (as on port 465) and AUTH."""
    with running_smtp_server(
        users={USER: PASSWORD}, implicit_tls_context=server_tls_context
    ) as server:
        yield server


@pytest.fixture
def handler() -> RecordingHandler:
    return RecordingHandler()


@pytest.fixture
def make_profile(db):
    """Create a profile; keyword arguments override the defaults."""

    def make(**fields) -> SMTPProfile:
        values = {
            "name": "Main",
            "host": "127.0.0.1",
            "port": 25,
            "security": Security.NONE,
            "from_email": "noreply@example.com",
            "from_name": "Example Site",
            "timeout": 5,
            "is_default": True,
            # The loopback test servers speak plain SMTP; tests of the refusal set it False.
            "allow_plaintext_auth": True,
        }
        values.update(fields)
        return SMTPProfile.objects.create(**values)

    return make
