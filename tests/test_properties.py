"""Property-based tests: random and hostile input for the profile form, the model and the admin.

Hypothesis feeds control characters, CR/LF, NUL, very long strings, odd Unicode
(RTL marks, combining characters, emoji, non-BMP letters), out-of-range and
non-numeric numbers, whitespace-only values and JSON-ish garbage to
``SMTPProfileForm``, to ``SMTPProfile.full_clean()`` and to every POST the
profile admin answers (save, the two test buttons, Detect settings and Use
these settings), and checks what must hold whatever is typed:

* no 500: an admin POST answers 200 (with an error) or 302 (after a valid save);
* no half-saved profile: after a POST that did not redirect, every row is as it was;
* a clear error for each refusal: a refused save shows a form error in the page;
* header-bound fields (from_name, from_email, reply_to, username) never store a
  control character (CR and LF above all);
* the password never appears in a response body, and its column holds only ciphertext;
* ``full_clean()`` either raises ValidationError or the profile saves and reads back equal.

The examples of one test share its database transaction, so each example
starts by deleting every profile. The only network peers are on 127.0.0.1:
the ``plain_server`` fixture for the test buttons and the tests' DNS server
(NXDOMAIN for every name) for Detect settings.

The bugs these properties found are kept at the end of the file as regression
tests with the exact inputs that failed (a 500, a refusal without a visible
error, a NUL that full_clean() let through, a line break kept in the name).

``SMTPCONFIG_PROPERTY_SCALE=10`` multiplies the example counts for a long hunt.
"""

from __future__ import annotations

import base64
import html
import json
import os
import string
import unicodedata
from email import message_from_bytes, policy

import hypothesis
import pytest
import trustme
from django.core.exceptions import ValidationError
from django.db import connection
from django.test import Client
from django.urls import reverse
from django.utils.html import escapejs
from hypothesis import HealthCheck, Phase, event, given, note
from hypothesis import strategies as st

from smtpconfig.forms import SMTPProfileForm
from smtpconfig.models import Security, SMTPProfile
from smtpconfig.providers.presets import PRESETS

from .helpers import form_data

pytestmark = [
    pytest.mark.django_db,
    # A cache key memcached would refuse (InvalidCacheKey, a 500 there) is an error here too.
    pytest.mark.filterwarnings("error::django.core.cache.backends.base.CacheKeyWarning"),
]

ADD_URL = reverse("admin:smtpconfig_smtpprofile_add")
LIST_URL = reverse("admin:smtpconfig_smtpprofile_changelist")

#: Fields whose values go into message headers or SMTP commands (the name: the test
#: email's Subject).
HEADER_FIELDS = ("from_name", "from_email", "reply_to", "username", "name")
#: Columns a test button may write on a saved profile (and nothing else).
LAST_TEST_FIELDS = (
    "last_test_at",
    "last_test_ok",
    "last_test_message",
    "last_test_report",
    "last_test_settings_digest",
)
#: Every generated password that is looked for in pages and rows carries this mark,
#: so that finding it there means a leak, not a coincidence (a password "a" is in every page).
MARK = "Pw§"
#: The password of the profile that already exists when each admin example starts.
STORED_PASSWORD = f"{MARK}stored Ключ:🔑/€§"
PEM_BEGIN = "-----BEGIN CERTIFICATE-----"
VALID_PEM = trustme.CA().cert_pem.bytes().decode("ascii")


def change_url(pk) -> str:
    return reverse("admin:smtpconfig_smtpprofile_change", args=[pk])


# Checks shared by the properties.


def has_control_character(value) -> bool:
    """Whether ``value`` holds a C0 or C1 control character or DEL (CR and LF among them)."""
    return any(unicodedata.category(char) == "Cc" for char in str(value))


def _b64_alphabet_only(secret: str) -> bool:
    return set(secret) <= set(string.ascii_letters + string.digits + "-_=")


def shows_secret(text: str, secret: str) -> bool:
    """Whether ``text`` shows ``secret`` as typed, HTML-, JSON- or JS-escaped, or in base64."""
    if not secret or MARK not in secret:
        return False  # an unmarked password ("a", " ") is in any page by chance
    forms = {
        secret,
        html.escape(secret),
        html.escape(secret, quote=False),
        json.dumps(secret)[1:-1],
        json.dumps(html.escape(secret))[1:-1],
        str(escapejs(secret)),
        base64.b64encode(secret.encode("utf-8")).decode("ascii"),
    }
    return any(form in text for form in forms)


def assert_no_secret(body: str, *secrets: str) -> None:
    for secret in secrets:
        assert not shows_secret(body, secret), "a password is in the response"


def raw_rows() -> str:
    """Every column of every profile row, as the database holds it."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM smtpconfig_smtpprofile")
        return " ".join(str(value) for row in cursor.fetchall() for value in row)


def assert_password_stored_encrypted(profile: SMTPProfile, password: str) -> None:
    """The column holds ciphertext: never the plain password, in any column."""
    if password and (len(password) >= 8 or not _b64_alphabet_only(password)):
        # A short base64-alphabet password ("ab") may occur in a ciphertext by chance.
        assert password not in profile.password_encrypted
    if MARK in password:
        assert password not in raw_rows()


def assert_header_fields_clean() -> None:
    for profile in SMTPProfile.objects.all():
        for name in HEADER_FIELDS:
            value = getattr(profile, name)
            assert not has_control_character(value), f"{name} stored {value!r}"


def snapshot(exclude=()) -> list[dict]:
    """Every profile row, every column (but ``exclude``), in primary-key order."""
    return [
        {key: value for key, value in row.items() if key not in exclude}
        for row in SMTPProfile.objects.order_by("pk").values()
    ]


def fresh_start(**fields) -> SMTPProfile:
    """Delete every profile (examples share the test's transaction); make one saved profile."""
    SMTPProfile.objects.all().delete()
    values = {
        "name": "Existing",
        "host": "127.0.0.1",
        "port": 25,
        "security": Security.NONE,
        "username": "mailer@example.com",
        "from_email": "noreply@example.com",
        "from_name": "Example Site",
        "timeout": 5,
        "is_default": True,
        "test_recipient": "tests@example.org",
    }
    values.update(fields)
    profile = SMTPProfile(**values)
    profile.password = STORED_PASSWORD
    profile.save()
    return profile


def logged_in(user) -> Client:
    """A new client for each example, so that no message or session state carries over."""
    client = Client()
    client.force_login(user)
    return client


def text_of(response) -> str:
    return response.content.decode("utf-8")


# Strategies.

#: Any code point except a lone surrogate (which cannot travel in a UTF-8 form).
ANY_CHAR = st.characters(exclude_categories=["Cs"])
CONTROL_CHAR = st.characters(categories=["Cc"])
ODD_UNICODE = st.sampled_from(
    [
        "\u200f",  # RIGHT-TO-LEFT MARK
        "\u202e",  # RIGHT-TO-LEFT OVERRIDE
        "\u2066",  # LEFT-TO-RIGHT ISOLATE
        "\u0301",  # a combining acute accent, alone
        "e\u0301\u0327\u0308",  # stacked combining marks
        "\u200b",  # ZERO WIDTH SPACE
        "\u200d",  # ZERO WIDTH JOINER
        "\ufeff",  # BOM
        "\u00a0",  # NO-BREAK SPACE
        "\u2028",  # LINE SEPARATOR
        "\u2029",  # PARAGRAPH SEPARATOR
        "\u3000",  # IDEOGRAPHIC SPACE
        "\u00ad",  # SOFT HYPHEN
        "\ufffd",  # REPLACEMENT CHARACTER
        "\uffff",  # a noncharacter
        "📧",
        "👩\u200d💻",
        "🇫🇷",
        "𝔘𝔫𝔦𝔠𝔬𝔡𝔢",  # non-BMP letters
        "\U0010fffd",  # the last private-use code point
        "ﷺ",  # one character, a long rendering
        "İı",
        "ß",
        "مرحبا",
        "名前",
        "<script>alert(1)</script>",
        "&amp;&#0;",
        "=?utf-8?q?=0D=0A?=",
        "%0d%0a",
        "'\";--",
        "{{ 1 }}{% now 'Y' %}",
    ]
)
INJECTIONS = st.sampled_from(
    [
        "\r\n",
        "\n",
        "\r",
        "\x00",
        "\r\nBcc: victim@example.com",
        "\nSubject: injected",
        "\r\n\r\nbody",
        "\t",
        "\x0b",
        "\x0c",
        "\x1b[31m",
        "\x7f",
        "\x85",
        "\x9b",
    ]
)
FRAGMENTS = st.one_of(INJECTIONS, ODD_UNICODE, st.text(CONTROL_CHAR, min_size=1, max_size=3))
WHITESPACE_ONLY = st.text(
    st.sampled_from(" \t\r\n\x0b\x0c\x1c\x1f\x85\u00a0\u2003\u2028\u3000\u200b\ufeff"),
    min_size=1,
    max_size=6,
)
VERY_LONG = st.builds(
    lambda unit, times: unit * times,
    st.one_of(st.text(ANY_CHAR, min_size=1, max_size=3), ODD_UNICODE),
    st.integers(min_value=64, max_value=1500),
)
HOSTILE_TEXT = st.one_of(
    st.text(ANY_CHAR, max_size=30),
    WHITESPACE_ONLY,
    VERY_LONG,
    st.lists(FRAGMENTS, min_size=1, max_size=4).map("".join),
)


@st.composite
def spliced(draw, base, fragments=FRAGMENTS):
    """A value from ``base`` with a hostile fragment inserted somewhere."""
    value = draw(base)
    at = draw(st.integers(min_value=0, max_value=len(value)))
    return value[:at] + draw(fragments) + value[at:]


def field_value(valid):
    """A valid value, a valid value with something hostile inside, or anything hostile."""
    return st.one_of(valid, spliced(valid), HOSTILE_TEXT)


NAMES = st.one_of(
    st.sampled_from(["Main", "Existing", "Office 365", "Ünïcödé", "名前", "📧 mail", "x" * 100]),
    st.text(st.characters(categories=["L", "N", "Zs"]), min_size=1, max_size=20),
)
HOST_LIST = [
    "127.0.0.1",
    "localhost",
    "smtp.example.com",
    "smtp.example.com.",
    "[::1]",
    "::1",
    "smtp.exämple.de",
    "xn--bcher-kva.example",
    "a" * 63 + ".example",
    "smtp_relay.example.com",
    "smtp.example.com:587",
    "smtp://smtp.example.com",
]
HOSTS = st.sampled_from(HOST_LIST)
EMAILS = st.one_of(
    st.sampled_from(
        [
            "noreply@example.com",
            "a.b+tag@example.org",
            '"quoted name"@example.com',
            '"a\\"b"@example.com',
            "user@exämple.de",
            "δοκιμή@παράδειγμα.δοκιμή",
            "x@[127.0.0.1]",
            "x@localhost",
            "boss@gmail.com",
            "Name <noreply@example.com>",
            "a@b@example.com",
        ]
    ),
    st.emails(),
)
DISPLAY_NAMES = st.one_of(
    st.sampled_from(
        ["Example Site", "Smith, John", 'He said "hi"', "Ünïcödé Støre", "مرحبا", "(comment)"]
    ),
    st.text(st.characters(categories=["L", "N", "P", "Zs"]), max_size=30),
)
DOMAIN_LISTS = st.sampled_from(
    ["example.com", "example.com, example.org", "exämple.de;example.org", "a@example.com", "a b"]
)
NUMBERS = st.one_of(
    st.integers(min_value=-70000, max_value=70000).map(str),
    st.integers().map(str),
    st.sampled_from(
        [
            "",
            " ",
            "0",
            "-1",
            "1",
            "300",
            "301",
            "65535",
            "65536",
            "100000",
            "100001",
            "2147483648",
            "99999999999999999999999999",
            "9" * 5000,
            "1e3",
            "0x19",
            "25.0",
            "25.5",
            "NaN",
            "inf",
            "-0",
            "+25",
            " 25 ",
            "٢٥",  # Arabic-Indic digits
            "２５",  # full-width digits
            "1_000",
            "25abc",
            "\x0025",
            "25\n",
        ]
    ),
    HOSTILE_TEXT,
)
CHECKBOX = st.one_of(
    st.none(), st.sampled_from(["on", "", "off", "false", "False", "0", "1", "true"]), HOSTILE_TEXT
)
SECURITY = st.one_of(st.sampled_from(Security.values), st.sampled_from(["tls", "SSL", ""]))
PRESET_KEYS = [preset.key for preset in PRESETS]
REGION_HOSTS = [host for preset in PRESETS for _label, host in preset.regions]
PEMS = st.one_of(
    st.just(VALID_PEM),
    spliced(st.just(VALID_PEM)),
    st.builds(lambda extra: extra + VALID_PEM, st.sampled_from(["\ufeff", "\u00a0", "\x00"])),
    st.sampled_from(
        [
            "",
            PEM_BEGIN,
            f"{PEM_BEGIN}\nnot base64\n-----END CERTIFICATE-----",
            VALID_PEM.replace("CERTIFICATE", "PRIVATE KEY"),
            VALID_PEM[: len(VALID_PEM) // 2],
            VALID_PEM * 3,
        ]
    ),
)


SAVE_FIELDS = {
    "name": field_value(NAMES),
    "preset": st.one_of(st.sampled_from(["", *PRESET_KEYS]), HOSTILE_TEXT),
    "preset_region": st.one_of(st.sampled_from(["", *REGION_HOSTS]), HOSTILE_TEXT),
    "host": st.one_of(st.just(""), field_value(HOSTS)),
    "port": NUMBERS,
    "security": st.one_of(SECURITY, HOSTILE_TEXT),
    "username": st.one_of(st.just(""), field_value(st.one_of(EMAILS, NAMES))),
    "from_name": st.one_of(st.just(""), field_value(DISPLAY_NAMES)),
    "from_email": field_value(EMAILS),
    "reply_to": st.one_of(st.just(""), field_value(EMAILS)),
    "timeout": NUMBERS,
    "verify_certificate": CHECKBOX,
    "allow_plaintext_auth": CHECKBOX,
    "ca_certificate": st.one_of(PEMS, HOSTILE_TEXT),
    "test_recipient": st.one_of(st.just(""), field_value(EMAILS)),
    "enabled": CHECKBOX,
    "is_default": CHECKBOX,
    "priority": NUMBERS,
    "sender_domains": st.one_of(st.just(""), field_value(DOMAIN_LISTS)),
    "clear_password": CHECKBOX,
}
#: What the test buttons get: the server stays the local test server (no other peer).
TEST_BUTTON_FIELDS = {
    name: strategy
    for name, strategy in SAVE_FIELDS.items()
    if name not in ("host", "port", "timeout", "preset", "preset_region")
}

PASSWORDS = st.one_of(
    st.just(""),
    HOSTILE_TEXT.map(lambda text: f"{MARK}{text}§"),  # looked for in every page and row
    WHITESPACE_ONLY,
    st.text(CONTROL_CHAR, min_size=1, max_size=3),
    st.just("\x00"),
)


@st.composite
def admin_posts(draw, fields=SAVE_FIELDS, max_fields=4):
    """A valid form with up to ``max_fields`` fields made hostile, and any password."""
    names = draw(st.lists(st.sampled_from(sorted(fields)), max_size=max_fields, unique=True))
    overrides = {name: draw(fields[name]) for name in names}
    overrides["password"] = draw(PASSWORDS)
    data = form_data(**overrides)
    note(f"POST data: {data!r}")
    return data


#: Mostly valid, so that most examples reach the server.
RECIPIENTS = st.integers(min_value=0, max_value=9).flatmap(
    lambda n: EMAILS if n < 6 else st.one_of(st.none(), field_value(EMAILS))
)

JSON_VALUES = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        st.floats(),  # NaN and infinity too (json.dumps writes NaN, Infinity)
        st.text(ANY_CHAR, max_size=20),
    ),
    lambda children: st.one_of(
        st.lists(children, max_size=3),
        st.dictionaries(st.text(ANY_CHAR, max_size=10), children, max_size=3),
    ),
    max_leaves=8,
)
CANDIDATES = st.fixed_dictionaries(
    {
        "host": st.one_of(HOSTS, field_value(HOSTS), JSON_VALUES),
        "port": st.one_of(
            st.integers(min_value=-5, max_value=70000),
            st.sampled_from(["587", " 465 ", "٥٨٧", "1e3", True]),
            NUMBERS,
            JSON_VALUES,
        ),
        "security": st.one_of(SECURITY, JSON_VALUES),
    },
    optional={
        "username": st.one_of(field_value(EMAILS), JSON_VALUES),
        "preset": st.one_of(st.sampled_from(PRESET_KEYS), HOSTILE_TEXT, JSON_VALUES),
    },
)


@st.composite
def truncated(draw, text):
    value = draw(text)
    return value[: draw(st.integers(min_value=0, max_value=len(value)))]


#: Settings the view accepts, with anything in the user name and preset it copies.
GOOD_CANDIDATES = st.fixed_dictionaries(
    {
        "host": st.sampled_from([host for host in HOST_LIST if host.count(":") != 1]),
        "port": st.integers(min_value=1, max_value=65535),
        "security": st.sampled_from(Security.values),
    },
    optional={
        "username": st.one_of(field_value(EMAILS), JSON_VALUES),
        "preset": st.one_of(st.sampled_from(PRESET_KEYS), HOSTILE_TEXT, JSON_VALUES),
    },
)
USE_SETTINGS_VALUES = st.one_of(
    st.builds(json.dumps, GOOD_CANDIDATES, ensure_ascii=st.booleans()),
    st.builds(json.dumps, CANDIDATES, ensure_ascii=st.booleans()),
    truncated(st.builds(json.dumps, CANDIDATES)),
    st.builds(json.dumps, JSON_VALUES),
    HOSTILE_TEXT,
    st.sampled_from(
        [
            "",
            "null",
            "{",
            "[]",
            "{}",
            '"host"',
            "NaN",
            '{"host": "smtp.example.com", "port": NaN, "security": "ssl"}',
            '{"host": "smtp.example.com", "port": 1e3, "security": "ssl"}',
            '{"host": "smtp.example.com", "port": "587", "security": "starttls", "preset": null}',
            '{"host": "smtp.example.com", "port": 587, "security": "starttls", "port": -1}',
            "[" * 50 + "]" * 50,
            "[" * 100_000,
            '{"host": "smtp.example.com", "port": 1e999, "security": "ssl"}',
            '{"host": "smtp.example.com", "port": 587, "security": "ssl", "username": "\\ud800"}',
            '{"host": "smtp.example.com", "port": 587, "security": "ssl", "preset": "\\udfff"}',
            '{"host": "smtp.example.com", "port": 587, "security": "ssl", "username": "a\\r\\nb"}',
        ]
    ),
)

#: Hypothesis settings for the admin properties (each example is a few requests).
#: SMTPCONFIG_PROPERTY_SCALE=10 runs ten times the examples, for a long hunt (the default
#: keeps the file at about 30 s on two cores).
SCALE = float(os.environ.get("SMTPCONFIG_PROPERTY_SCALE", "1"))
ADMIN_PROPERTY = hypothesis.settings(
    max_examples=int(60 * SCALE),
    deadline=None,
    phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.target, Phase.shrink],
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
#: Hypothesis settings for the form and model properties (no request: more examples).
FAST_PROPERTY = hypothesis.settings(ADMIN_PROPERTY, max_examples=int(150 * SCALE))


# The admin.


@pytest.mark.parametrize("where", ["add", "change"])
@ADMIN_PROPERTY
@given(data=admin_posts())
def test_a_save_redirects_or_says_why_and_never_half_saves(where, data, admin_user):
    existing = fresh_start()
    url = ADD_URL if where == "add" else change_url(existing.pk)
    before = snapshot()

    response = logged_in(admin_user).post(url, data)

    assert response.status_code in (200, 302)
    event(f"{where} page: {'saved' if response.status_code == 302 else 'refused'}")
    body = text_of(response)
    assert_no_secret(body, data["password"], STORED_PASSWORD)
    if response.status_code == 200:
        assert 'class="errorlist' in body, "a refused save must say what is wrong"
        assert snapshot() == before, "a refused save changed the database"
        return

    assert_header_fields_clean()
    assert SMTPProfile.objects.count() == (2 if where == "add" else 1)
    saved = SMTPProfile.objects.exclude(pk=existing.pk).get() if where == "add" else existing
    saved.refresh_from_db()
    for name in ("name", "from_name", "from_email", "reply_to"):
        assert getattr(saved, name) == data.get(name, "").strip()
    typed = data["password"]
    if typed:
        assert saved.password == typed
    else:
        assert saved.password in ("", STORED_PASSWORD if where == "change" else "")
    assert_password_stored_encrypted(saved, typed)
    assert_password_stored_encrypted(saved, STORED_PASSWORD)
    # What was saved shows again without a 500 (and without the password).
    for page in (change_url(saved.pk), LIST_URL):
        response = logged_in(admin_user).get(page)
        assert response.status_code == 200
        assert_no_secret(text_of(response), typed, STORED_PASSWORD)


ALLOWED_TEST_HEADERS = {
    "auto-submitted",
    "content-transfer-encoding",
    "content-type",
    "date",
    "from",
    "message-id",
    "mime-version",
    "reply-to",
    "subject",
    "to",
}


@ADMIN_PROPERTY
@given(
    where=st.sampled_from(["add", "change"]),
    button=st.sampled_from(["_send_test", "_check_connection"]),
    data=admin_posts(TEST_BUTTON_FIELDS, max_fields=2),
    recipient=RECIPIENTS,
    ajax=st.booleans(),
)
def test_the_test_buttons_answer_and_save_nothing_typed(
    plain_server, admin_user, settings, where, button, data, recipient, ajax
):
    settings.SMTPCONFIG = {**settings.SMTPCONFIG, "TEST_RATE_LIMIT": 0}  # many tests a minute
    existing = fresh_start(port=plain_server.port)
    url = ADD_URL if where == "add" else change_url(existing.pk)
    data = {**data, "port": str(plain_server.port), button: "1"}
    if recipient is not None:
        data["_test_to"] = recipient
    before = snapshot(exclude=LAST_TEST_FIELDS)
    received_before = len(plain_server.messages)
    headers = {"X-Requested-With": "XMLHttpRequest"} if ajax else {}

    response = logged_in(admin_user).post(url, data, headers=headers)

    assert response.status_code == 200
    body = text_of(response)
    assert_no_secret(body, data["password"], STORED_PASSWORD)
    # Only the last test's outcome may be written, and only on the saved profile.
    assert snapshot(exclude=LAST_TEST_FIELDS) == before
    existing.refresh_from_db()
    assert_password_stored_encrypted(existing, data["password"])
    if len(plain_server.messages) > received_before:
        event("the server got a message")
    elif "accepted the connection" in body:
        event("the connection check passed")
    elif "The test failed" in body:
        event("the test failed")
    else:
        event("refused before testing")
    if ajax:
        result = response.json()
        assert set(result) == {"form_valid", "ok", "error", "summary", "html"}
        if not result["form_valid"]:
            assert not result["ok"] and result["html"] == ""
    elif "Correct the errors below before testing" in body:
        assert 'class="errorlist' in body
    else:
        assert 'class="messagelist"' in body, "the outcome of a test must be said"
    # Whatever was typed, no extra header reaches the server.
    for received in plain_server.messages[received_before:]:
        message = message_from_bytes(received.data, policy=policy.default)
        assert {key.lower() for key in message} <= ALLOWED_TEST_HEADERS
        assert len(received.rcpt_tos) == 1


@ADMIN_PROPERTY
@given(
    where=st.sampled_from(["add", "change"]),
    data=admin_posts(),
    address=st.one_of(EMAILS, field_value(EMAILS)),
    ajax=st.booleans(),
)
def test_detect_settings_answers_and_saves_nothing(
    admin_user, settings, where, data, address, ajax
):
    settings.SMTPCONFIG = {**settings.SMTPCONFIG, "TEST_RATE_LIMIT": 0}  # many detections
    existing = fresh_start()
    url = ADD_URL if where == "add" else change_url(existing.pk)
    data = {**data, "from_email": address, "_detect": "1"}
    before = snapshot()
    headers = {"X-Requested-With": "XMLHttpRequest"} if ajax else {}

    response = logged_in(admin_user).post(url, data, headers=headers)

    assert response.status_code == 200
    assert_no_secret(text_of(response), data["password"], STORED_PASSWORD)
    assert snapshot() == before
    if ajax:
        assert set(response.json()) == {"html", "candidates"}


@ADMIN_PROPERTY
@given(
    where=st.sampled_from(["add", "change"]),
    data=admin_posts(),
    chosen=USE_SETTINGS_VALUES,
)
def test_use_these_settings_answers_and_saves_nothing(admin_user, where, data, chosen):
    existing = fresh_start()
    url = ADD_URL if where == "add" else change_url(existing.pk)
    data = {**data, "_use_settings": chosen}
    before = snapshot()

    response = logged_in(admin_user).post(url, data)

    assert response.status_code == 200
    body = text_of(response)
    assert_no_secret(body, data["password"], STORED_PASSWORD)
    assert snapshot() == before
    filled = "Test it, then save" in body
    event("filled the form" if filled else "could not be read")
    assert filled or "could not be read" in body


# The form.


@FAST_PROPERTY
@given(data=admin_posts(), bound_to_saved=st.booleans())
def test_the_form_refuses_with_messages_or_saves_what_it_cleaned(data, bound_to_saved):
    existing = fresh_start()
    before = snapshot()
    form = SMTPProfileForm(data=data, instance=existing if bound_to_saved else None)

    event("form valid" if form.is_valid() else "form invalid")
    if not form.is_valid():
        messages = [message for errors in form.errors.values() for message in errors]
        assert messages and all(str(message).strip() for message in messages)
        assert snapshot() == before
        return

    for name in HEADER_FIELDS:
        assert not has_control_character(form.cleaned_data.get(name, ""))
    profile = form.save()
    stored = SMTPProfile.objects.get(pk=profile.pk)
    for name in SMTPProfileForm._meta.fields:
        assert getattr(stored, name) == form.cleaned_data[name], name
    assert_header_fields_clean()
    assert_password_stored_encrypted(stored, data["password"])
    stored.full_clean()  # what the form accepts, the model accepts


# The model.

#: Values of any type for the model's fields (the admin sends only text).
ODD_NUMBERS = st.one_of(
    st.integers(),
    st.floats(allow_infinity=False),  # int(inf) raises OverflowError inside Django itself
    st.booleans(),
    st.none(),
    NUMBERS,
)
ODD_BOOLEANS = st.one_of(
    st.booleans(),
    st.none(),
    st.integers(min_value=-2, max_value=3),
    st.sampled_from(["t", "f", "True", "False", "1", "0", "on", "yes"]),
    HOSTILE_TEXT,
)
#: None is offered only where the column is NOT NULL and blank is not allowed: for a
#: blank=True text field Django's full_clean() skips None ("empty") and the INSERT then
#: fails with IntegrityError. That is Django's documented behaviour, not this app's.
MODEL_FIELDS = {
    "name": st.one_of(field_value(NAMES), st.integers(), st.none()),
    "enabled": ODD_BOOLEANS,
    "is_default": ODD_BOOLEANS,
    "priority": ODD_NUMBERS,
    "sender_domains": field_value(DOMAIN_LISTS),
    "host": st.one_of(field_value(HOSTS), st.integers(), st.none()),
    "port": ODD_NUMBERS,
    "security": st.one_of(SECURITY, HOSTILE_TEXT, st.none(), st.integers()),
    "username": field_value(EMAILS),
    "password": st.one_of(PASSWORDS, st.none()),
    "from_email": st.one_of(field_value(EMAILS), st.none()),
    "from_name": st.one_of(field_value(DISPLAY_NAMES), st.integers()),
    "reply_to": field_value(EMAILS),
    "timeout": ODD_NUMBERS,
    "verify_certificate": ODD_BOOLEANS,
    "allow_plaintext_auth": ODD_BOOLEANS,
    "ca_certificate": st.one_of(PEMS, HOSTILE_TEXT),
    "test_recipient": field_value(EMAILS),
}
MODEL_DEFAULTS = {
    "name": "Main",
    "host": "smtp.example.com",
    "port": 587,
    "security": Security.STARTTLS,
    "from_email": "noreply@example.com",
}
#: Compared after the round trip: every stored column but the automatic ones.
ROUND_TRIP_FIELDS = [
    field.attname
    for field in SMTPProfile._meta.concrete_fields
    if field.attname not in ("id", "created_at", "updated_at")
]


@st.composite
def model_kwargs(draw):
    names = draw(st.lists(st.sampled_from(sorted(MODEL_FIELDS)), max_size=5, unique=True))
    kwargs = {**MODEL_DEFAULTS, **{name: draw(MODEL_FIELDS[name]) for name in names}}
    note(f"SMTPProfile(**{kwargs!r})")
    return kwargs


@FAST_PROPERTY
@given(kwargs=model_kwargs())
def test_full_clean_refuses_or_the_profile_round_trips(kwargs):
    SMTPProfile.objects.all().delete()
    profile = SMTPProfile(**kwargs)
    try:
        profile.full_clean()
    except ValidationError as error:
        event("refused")
        assert error.message_dict, "a refusal names the field"
        assert not SMTPProfile.objects.exists()
        return

    for name in HEADER_FIELDS:
        assert not has_control_character(getattr(profile, name))
    profile.save()
    stored = SMTPProfile.objects.get(pk=profile.pk)
    for name in ROUND_TRIP_FIELDS:
        assert getattr(stored, name) == getattr(profile, name), name
    password = kwargs.get("password") or ""
    assert stored.password == password
    assert_password_stored_encrypted(stored, password)


# Regression tests: the inputs with which the properties above found bugs (at 34af691),
# each checked for what the properties expect.


@pytest.mark.parametrize(
    "certificate",
    [
        f"{PEM_BEGIN}é",  # the minimal example
        f"\ufeff{VALID_PEM}",  # a BOM, as a file saved by some editors starts
        VALID_PEM.replace("\n", "\u00a0\n", 1),  # a no-break space pasted from a page
    ],
)
def test_a_certificate_with_a_non_ascii_character_is_a_form_error(admin_client, certificate):
    """Was a 500: ssl's cadata raised TypeError for non-ASCII text, which nobody caught."""
    response = admin_client.post(ADD_URL, form_data(ca_certificate=certificate))
    assert response.status_code == 200
    assert "not a valid PEM certificate" in text_of(response)
    assert not SMTPProfile.objects.exists()


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("ca_certificate", f"{PEM_BEGIN}é"),  # was TypeError
        ("name", "Main\x00"),  # passed, then PostgreSQL refused the INSERT (ValueError)
        ("ca_certificate", f"{VALID_PEM}\x00"),  # the same: ssl loads it, PostgreSQL does not
        ("name", "Main\r\nX-Evil: 1"),  # passed; the name goes into the test email's Subject
    ],
)
def test_full_clean_refuses_what_the_database_or_the_headers_cannot_take(field, value):
    profile = SMTPProfile(**{**MODEL_DEFAULTS, field: value})
    with pytest.raises(ValidationError) as refused:
        profile.full_clean()
    assert field in refused.value.message_dict


@pytest.mark.parametrize(
    "chosen",
    [
        '{"host": "smtp.example.com", "port": 1e999, "security": "starttls"}',  # OverflowError
        '{"host": "smtp.example.com", "port": Infinity, "security": "starttls"}',  # OverflowError
        "[" * 100_000,  # RecursionError in json.loads
        # UnicodeEncodeError when the page was encoded: the user name was copied unchecked.
        '{"host": "smtp.example.com", "port": 587, "security": "starttls", "username": "\\ud800"}',
    ],
)
def test_use_settings_refuses_what_it_cannot_read(admin_client, chosen):
    """Each was a 500."""
    response = admin_client.post(ADD_URL, form_data(username="", _use_settings=chosen))
    assert response.status_code == 200
    assert "could not be read" in text_of(response)
    assert not SMTPProfile.objects.exists()


@pytest.mark.parametrize("where", ["add", "change"])
def test_the_password_conflict_is_shown_when_the_clear_box_is_not(admin_client, where):
    """Was "Please correct the error below" with no error below.

    The error went on the "clear the stored password" box, which the page does
    not show without a stored password: on the add page, or on a profile whose
    password someone cleared while the form was open.
    """
    url = ADD_URL
    if where == "change":
        profile = fresh_start()
        profile.password = ""  # cleared by someone else while the form was open
        profile.save()
        url = change_url(profile.pk)
    before = snapshot()
    response = admin_client.post(url, form_data(password=f"{MARK}new§", clear_password="on"))
    assert response.status_code == 200
    assert 'class="errorlist' in text_of(response)
    assert "not both" in text_of(response)
    assert snapshot() == before


#: A legal host name of 253 characters (four labels of at most 63).
LONGEST_HOST = ".".join(["a" * 63, "b" * 63, "c" * 63, "d" * 61])


@pytest.mark.parametrize("case", ["refused host with a space", "saved 253-character host"])
def test_the_change_page_makes_no_cache_key_memcached_refuses(admin_client, case):
    """Was a CacheKeyWarning here, InvalidCacheKey (a 500) with Django's memcached backends.

    The sender-domain check cached under a key made of the raw domain and host,
    and on a refused save it ran on the refused values.
    """
    if case == "refused host with a space":
        profile = fresh_start()
        response = admin_client.post(change_url(profile.pk), form_data(host="smtp example.com"))
        assert "cannot contain spaces" in text_of(response)
    else:
        profile = fresh_start(host=LONGEST_HOST)
        profile.full_clean()
        response = admin_client.get(change_url(profile.pk))
    assert response.status_code == 200


def test_a_line_break_in_the_name_is_refused(admin_client):
    """Was saved; the test email then failed at "Message (DATA)" ("Header values can't
    contain newlines", diagnosed as a broken connection), and the name reached log lines."""
    response = admin_client.post(ADD_URL, form_data(name="Main\r\nX-Evil: 1"))
    assert response.status_code == 200
    assert "on one line" in text_of(response)
    assert not SMTPProfile.objects.exists()
