"""English and Russian: complete catalogs, the admin in the browser's language."""

import gettext as gettext_module
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from django.utils import translation
from django.utils.translation import gettext, ngettext

from .helpers import change_url, form_data, page

ROOT = Path(__file__).resolve().parent.parent
CATALOGS = [
    ROOT / "smtpconfig/locale/ru/LC_MESSAGES/django.po",
    ROOT / "locale/ru/LC_MESSAGES/django.po",
]
RUSSIAN = {"HTTP_ACCEPT_LANGUAGE": "ru"}


def entries(path: Path, *, plural: bool = False):
    """(msgid, [msgstr, ...], fuzzy) for each entry of a .po file, header excluded; with
    ``plural``, a plural entry's msgid_plural instead of its msgid (Russian uses the count
    in its form for 1 too, since that form is also the one for 21)."""
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
            msgid = fields.get("msgid_plural", fields["msgid"]) if plural else fields["msgid"]
            yield msgid, msgstrs, fuzzy


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
    for msgid, msgstrs, _ in entries(catalog, plural=True):
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


# Every message the sources hold is in the Russian catalogs, translated: a copy of each
# catalog's sources is run through makemessages (merging the catalog as it is), so a string
# added to the code without a translation fails here, not in front of a Russian reader.
SOURCES = {
    "smtpconfig": (["smtpconfig"], "smtpconfig", []),
    "host": (["mailsettings", "templates", "locale"], ".", ["--ignore=smtpconfig"]),
}


@pytest.mark.parametrize("catalog", SOURCES)
def test_every_message_in_the_sources_is_translated_into_russian(catalog, tmp_path):
    folders, workdir, extra = SOURCES[catalog]
    for folder in folders:
        shutil.copytree(
            ROOT / folder, tmp_path / folder, ignore=shutil.ignore_patterns("__pycache__")
        )
    if catalog == "host":
        (tmp_path / "smtpconfig").mkdir()
    subprocess.run(
        [sys.executable, "-m", "django", "makemessages", "-l", "ru", "--no-obsolete", *extra],
        cwd=tmp_path / workdir,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings", "PYTHONPATH": str(ROOT)},
        check=True,
        capture_output=True,
        timeout=120,
    )
    found = list(entries(tmp_path / workdir / "locale/ru/LC_MESSAGES/django.po"))
    untranslated = [msgid for msgid, msgstrs, fuzzy in found if fuzzy or not all(msgstrs)]
    assert untranslated == []


# Which form Russian takes for a count: один профиль, два профиля, пять профилей.
RUSSIAN_FORMS = {1: 0, 2: 1, 4: 1, 5: 2, 11: 2, 12: 2, 14: 2, 21: 0, 22: 1, 25: 2, 111: 2}


def plural_entries(path: Path):
    """(msgid, msgid_plural) of each plural entry of a .po file."""
    text = path.read_text(encoding="utf-8")
    for block in text.split("\n\n"):
        joined = re.sub(r'"\n"', "", block)
        singular = re.search(r'^msgid "(.*)"$', joined, re.M)
        plural = re.search(r'^msgid_plural "(.*)"$', joined, re.M)
        if singular and plural:
            yield singular.group(1), plural.group(1)


@pytest.mark.parametrize("catalog", CATALOGS, ids=["smtpconfig", "host"])
def test_russian_plurals_have_three_forms_for_1_2_5_and_21(catalog):
    header = re.search(r'Plural-Forms: (.*?)\\n"', re.sub(r'"\n"', "", catalog.read_text()))
    assert header, catalog
    nplurals, expression = re.fullmatch(r"nplurals=(\d+); plural=(.*);", header.group(1)).groups()
    assert nplurals == "3"
    choose = gettext_module.c2py(expression)
    assert {n: choose(n) for n in RUSSIAN_FORMS} == RUSSIAN_FORMS
    plurals = list(plural_entries(catalog))
    if catalog.parents[3].name == "smtpconfig":
        assert ("%(counter)s SMTP profile", "%(counter)s SMTP profiles") in plurals
    for singular, plural in plurals:
        with translation.override("ru"):
            forms = {n: ngettext(singular, plural, n) for n in (1, 2, 5, 21)}
        assert forms[1] == forms[21], singular
        assert forms[1] != forms[5], singular
        if singular.startswith("%(counter)s "):
            # A count and its noun: один профиль, два профиля, пять профилей.
            assert len({forms[1], forms[2], forms[5]}) == 3, (singular, forms)
        assert forms[1] not in (singular, plural), singular


@pytest.mark.django_db
def test_counts_in_the_lists_take_the_russian_plural(admin_client, make_profile):
    from django.urls import reverse

    for index in range(4):
        make_profile(name=f"P{index}", is_default=index == 0)
    html = admin_client.get(reverse("admin:smtpconfig_smtpprofile_changelist"), **RUSSIAN)
    assert "4 профиля SMTP" in page(html)
    english = page(admin_client.get(reverse("admin:smtpconfig_deliverylog_changelist")))
    assert "0 delivery log entries" in english


@pytest.mark.django_db
def test_site_header_is_translated(admin_client):
    from django.urls import reverse

    html = page(admin_client.get(reverse("admin:index"), **RUSSIAN))
    assert "Настройки почты" in html and "Mail settings" not in html


def test_help_texts_name_the_none_mode_as_the_russian_option_does():
    from django.utils.translation import pgettext

    with translation.override("ru"):
        option = pgettext("SSL/TLS mode", "None")
    assert option == "Без шифрования"
    mentions = [
        (msgid, msgstrs)
        for msgid, msgstrs, _ in entries(CATALOGS[0])
        if re.search(r"mode (is )?“?None”?", msgid)
    ]
    assert mentions
    for msgid, msgstrs in mentions:
        assert all(f"«{option}»" in msgstr for msgstr in msgstrs), msgid
