"""The student's language: which one, and the server's translations of what students read (the
notice, the record page, the LTI student pages). Seven languages; gettext catalogs
(``server/locale/<lang>.po``, read with Babel) so translators work with the ecosystem's tools.
``tests/unit/server/test_i18n.py`` fails when a catalog misses a message or a placeholder.

The choice, first match wins: the start token's ``language`` claim (the LMS knows best), the
LTI launch's ``locale``, then what the browser asked for (``init({lang})`` first, then
``navigator.languages``), else English. A region is dropped (``de-CH`` is German)."""

from __future__ import annotations

import functools
import gettext as stdlib_gettext
import io
from collections.abc import Iterable
from pathlib import Path
from typing import Any

LANGUAGES = ("en", "de", "fr", "es", "it", "nl", "pl")
DEFAULT = "en"
LOCALE = Path(__file__).resolve().parent / "locale"
#: At most this many browser preferences are read (a request could send thousands).
MAX_PREFERENCES = 16


def N_(message: str) -> str:
    """Mark a message for the catalogs without translating it here."""
    return message


def supported(tag: object) -> str | None:
    """The language of a BCP 47 tag (``de-CH`` -> ``de``) if openproctor speaks it."""
    if not isinstance(tag, str) or len(tag) > 35:
        return None
    primary = tag.strip().replace("_", "-").split("-")[0].lower()
    return primary if primary in LANGUAGES else None


def choose(*preferences: str | Iterable[object] | None) -> str:
    """The first supported language among ``preferences`` (each a tag or a list of tags)."""
    for preference in preferences:
        if preference is None:
            continue
        tags = [preference] if isinstance(preference, str) else list(preference)[:MAX_PREFERENCES]
        for tag in tags:
            found = supported(tag)
            if found:
                return found
    return DEFAULT


@functools.cache
def translations(lang: str) -> stdlib_gettext.NullTranslations:
    """The catalog of ``lang`` (English: the messages as written)."""
    if lang not in LANGUAGES or lang == DEFAULT:
        return stdlib_gettext.NullTranslations()
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po
    from babel.support import Translations

    with (LOCALE / f"{lang}.po").open("rb") as po:
        catalog = read_po(po, locale=lang)
    compiled = io.BytesIO()
    write_mo(compiled, catalog)
    compiled.seek(0)
    return Translations(compiled)


#: Where the catalogs' messages come from: the student-facing code and templates.
SOURCES = (
    ("notice.py", "python"),
    ("integrity.py", "python"),
    ("web/record.py", "python"),
    ("web/templates/base.html", "jinja2"),
    ("web/templates/record.html", "jinja2"),
    ("web/templates/record_missing.html", "jinja2"),
    ("web/templates/event_pager.html", "jinja2"),
    ("web/templates/lti_end.html", "jinja2"),
    ("web/templates/lti_error.html", "jinja2"),
)


def extract() -> Any:
    """Every message of :data:`SOURCES`, as a Babel catalog (the template for the .po files;
    tests/unit/server/test_i18n.py compares each catalog with it)."""
    from babel.messages.catalog import Catalog
    from babel.messages.extract import extract_from_file

    catalog = Catalog(project="openproctor", domain="messages")
    server = Path(__file__).resolve().parent
    keywords = {"_": None, "gettext": None, "ngettext": (1, 2), "N_": None}
    for name, method in SOURCES:
        options = {"extensions": "jinja2.ext.i18n"} if method == "jinja2" else {}
        for line, message, comments, _context in extract_from_file(
            method, server / name, keywords=keywords, options=options
        ):
            catalog.add(message, locations=[(name, line)], auto_comments=comments)
    return catalog
