"""Seven languages for what students read (issue 17 §2): the catalogs are complete (every message,
every placeholder, every plural form), the language is chosen from the JWT's `language`, the
LTI `locale`, then the browser's list, and the notice, the record page and the LTI student pages
come out in it."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest
from babel.messages.pofile import read_po

from openproctor.server.i18n import LANGUAGES, LOCALE, choose, extract
from openproctor.server.lti.launch import OPENPROCTOR_CLAIM
from openproctor.server.notice import build_notice

from .conftest import launch, learner, start_jwt
from .test_lti import autopost

ROOT = Path(__file__).resolve().parents[3]
PLACEHOLDER = re.compile(r"%\((\w+)\)s|\{(\w+)\}|<[^>]+>")
TRANSLATED = [lang for lang in LANGUAGES if lang != "en"]


def placeholders(text: str) -> list[str]:
    return sorted("".join(found) for found in PLACEHOLDER.findall(text))


@pytest.fixture(scope="module")
def messages():
    return {m.id: m for m in extract() if m.id}


@pytest.mark.parametrize("lang", TRANSLATED)
def test_each_server_catalog_has_every_message_and_placeholder(lang, messages):
    with (LOCALE / f"{lang}.po").open("rb") as po:
        catalog = read_po(po, locale=lang)
    found = {m.id: m for m in catalog if m.id}
    missing = [m for m in messages if m not in found]
    stale = [m for m in found if m not in messages]
    assert missing == [] and stale == [], f"{lang}.po: missing {missing}, stale {stale}"
    for msgid, message in found.items():
        assert not message.fuzzy, f"{lang}.po: {msgid!r} is marked fuzzy"
        sources = list(msgid) if isinstance(msgid, tuple) else [msgid]
        forms = list(message.string) if isinstance(msgid, tuple) else [message.string]
        if isinstance(msgid, tuple):
            assert len(forms) == catalog.num_plurals, f"{lang}.po: {msgid!r} plural forms"
        for form in forms:
            assert form, f"{lang}.po: {msgid!r} is not translated"
            assert placeholders(form) in [placeholders(s) for s in sources], (
                f"{lang}.po: {msgid!r} -> {form!r} changes the placeholders"
            )


PANEL_KEYS = """import(process.argv[1]).then(m => console.log(JSON.stringify(m.STRINGS)))"""


def panel_strings() -> dict[str, str]:
    done = subprocess.run(
        ["node", "--input-type=module", "-e", PANEL_KEYS, str(ROOT / "loader" / "panel.js")],
        capture_output=True,
        text=True,
        check=True,
    )
    found: dict[str, str] = json.loads(done.stdout)
    return found


@pytest.mark.parametrize("lang", TRANSLATED)
def test_each_panel_catalog_has_every_string_and_placeholder(lang):
    english = panel_strings()
    catalog = json.loads((ROOT / "loader" / "i18n" / f"{lang}.json").read_text())
    assert sorted(catalog) == sorted(english), f"{lang}.json keys differ from panel.js STRINGS"
    for key, text in english.items():
        assert catalog[key].strip(), f"{lang}.json: {key} is empty"
        assert placeholders(catalog[key]) == placeholders(text), f"{lang}.json: {key}"


@pytest.mark.parametrize(
    ("preferences", "chosen"),
    [
        (("de", ["fr"]), "de"),  # the JWT's claim first
        (("", ["fr-CA", "de"]), "fr"),  # then the browser's list, regions dropped
        ((None, ["zh-CN", "pt-BR", "pl-PL"]), "pl"),
        (("xx", ["ja"]), "en"),  # nothing spoken: English
        (("", [123, None, "it_IT"]), "it"),  # junk in the list is skipped
        (("NL",), "nl"),
    ],
)
def test_the_language_is_chosen_in_order(preferences, chosen):
    assert choose(*preferences) == chosen


def test_the_jwt_language_claim_gives_the_notice_and_the_record_its_language(
    client, integration, store
):
    jwt = start_jwt("lang-1", claims={"language": "de"})
    grant = client.post("/api/v1/sessions", json={"integrationName": "lms1", "jwt": jwt}).json()
    notice = grant["notice"]
    assert notice["lang"] == "de" and notice["title"].startswith("Bevor Sie beginnen")
    assert notice["sections"][0]["heading"] == "Was diese Prüfung aufzeichnet"
    assert grant["messages"]["mobile_not_allowed"].startswith("Diese Prüfung")
    assert store.sessions.get(grant["session_id"]).lang == "de"
    page = client.get(grant["record_url"])
    assert '<html lang="de">' in page.text and "Was über Ihre Prüfungssitzung" in page.text
    assert build_notice(store.sessions.get(grant["session_id"])) == notice


def test_without_a_claim_the_browsers_list_decides(client, integration):
    jwt = start_jwt("lang-2", claims={"language": ...})  # the claim left out
    body = {"integrationName": "lms1", "jwt": jwt, "languages": ["pt-BR", "es-MX", "en"]}
    grant = client.post("/api/v1/sessions", json=body).json()
    assert grant["notice"]["lang"] == "es" and grant["notice"]["title"].startswith("Antes de")
    bad = {"integrationName": "lms1", "jwt": start_jwt("lang-3"), "languages": "de"}
    refused = client.post("/api/v1/sessions", json=bad)
    assert refused.status_code == 400 and "'languages' must be a list" in refused.text


def test_the_lti_locale_gives_the_notice_and_the_end_page_their_language(tool, platform, store):
    presentation = {
        "https://purl.imsglobal.org/spec/lti/claim/launch_presentation": {"locale": "fr-FR"}
    }
    started = launch(tool, platform, learner(kind="start_proctoring", extra=presentation))
    assert started.status_code == 200, started.text
    _, signed = autopost(started.text)
    claims = platform.check_tool_message(signed, tool.get("/lti/jwks").json())
    row = store.sessions.get(claims[OPENPROCTOR_CLAIM]["session_id"])
    assert row.lang == "fr" and build_notice(row)["title"].startswith("Avant de commencer")
    end = launch(tool, platform, learner(kind="end_assessment", extra=presentation))
    assert end.status_code == 200 and "Votre examen surveillé est terminé" in end.text
    assert '<html lang="fr">' in end.text


def test_a_record_link_that_finds_nothing_answers_in_the_browsers_language(client):
    page = client.get(
        "/record/ops_nothing?key=wrong", headers={"accept-language": "it-IT,it;q=0.9"}
    )
    assert page.status_code == 404 and "Questo link al registro non funziona" in page.text
