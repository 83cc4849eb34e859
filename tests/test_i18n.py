"""English and Russian: complete catalogs, the admin in the browser's language."""

import re
from pathlib import Path

import pytest
from django.utils import translation
from django.utils.translation import gettext

from .helpers import change_url, form_data, page

ROOT = Path(__file__).resolve().parent.parent
CATALOGS = [
    ROOT / "smtpconfig/locale/ru/LC_MESSAGES/django.po",
    ROOT / "locale/ru/LC_MESSAGES/django.po",
]
RUSSIAN = {"HTTP_ACCEPT_LANGUAGE": "ru"}


def entries(path: Path):
    """(msgid, [msgstr, ...], fuzzy) for each entry of a .po file, header excluded."""
    for block in path.read_text(encoding="utf-8").split("\n\n"):
        fields: dict[str, str] = {}
        key, fuzzy = None, False
        for line in block.splitlines():
            if line.startswith("#,") and "fuzzy" in line:
                fuzzy = True
            if line.startswith("#") or not line.strip():
                continue
            match = re.match(r'^(msgid|msgid_plural|msgstr(?:\[\d\])?) "(.*)"$', line)
            if match:
                key = match.group(1)
                fields[key] = match.group(2)
            elif line.startswith('"') and key:
                fields[key] += line[1:-1]
        if fields.get("msgid"):
            msgstrs = [value for name, value in fields.items() if name.startswith("msgstr")]
            yield fields["msgid"], msgstrs, fuzzy


@pytest.mark.parametrize("catalog", CATALOGS, ids=["smtpconfig", "host"])
def test_russian_catalog_is_complete_and_compiled(catalog):
    found = list(entries(catalog))
    assert found, catalog
    untranslated = [msgid for msgid, msgstrs, _ in found if not all(msgstrs)]
    fuzzy = [msgid for msgid, _, is_fuzzy in found if is_fuzzy]
    assert untranslated == [] and fuzzy == []
    compiled = catalog.with_suffix(".mo")
    assert compiled.exists() and compiled.stat().st_mtime >= catalog.stat().st_mtime - 1


@pytest.mark.parametrize("catalog", CATALOGS, ids=["smtpconfig", "host"])
def test_translations_keep_every_placeholder(catalog):
    placeholder = re.compile(r"%\(\w+\)[sd]|%[sd]")
    for msgid, msgstrs, _ in entries(catalog):
        for msgstr in msgstrs:
            assert set(placeholder.findall(msgstr)) == set(placeholder.findall(msgid)), (
                msgid,
                msgstr,
            )


def russian(text: str) -> str:
    with translation.override("ru"):
        return gettext(text)


@pytest.mark.django_db
def test_admin_follows_the_browsers_language(admin_client, make_profile):
    profile = make_profile()
    html = admin_client.get(change_url(profile), **RUSSIAN).content.decode()
    assert '<html lang="ru"' in html
    for text in ("Send test email", "Check connection", "Detect settings", "Test these settings"):
        assert russian(text) != text
        assert russian(text) in html
    assert "Send test email" not in html


@pytest.mark.django_db
def test_diagnosis_and_test_email_in_russian(admin_client, make_profile, plain_server):
    profile = make_profile(port=plain_server.port)
    data = form_data(
        port=str(plain_server.port), security="ssl", _send_test="1", _test_to="a@b.org"
    )
    html = page(admin_client.post(change_url(profile), data, **RUSSIAN))
    assert russian("What to change") in html
    assert russian("Choose STARTTLS") in html and russian("Choose STARTTLS") != "Choose STARTTLS"

    data = form_data(port=str(plain_server.port), _send_test="1", _test_to="a@b.org")
    admin_client.post(change_url(profile), data, **RUSSIAN)
    subject = plain_server.messages[0].message["Subject"]
    with translation.override("ru"):
        assert subject == gettext("SMTP test email: %(profile)s") % {"profile": "Main"}
    assert "SMTP test email" not in subject


@pytest.mark.django_db
def test_login_page_in_russian(client):
    html = client.get("/admin/login/", **RUSSIAN).content.decode()
    assert russian("Forgotten your password?") in html
    assert "Forgotten your password?" not in html
