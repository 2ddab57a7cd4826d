"""Text from outside, checked once where it enters: no lone surrogates (no UTF-8 form: the
databases and the JSON of other runtimes cannot take them), no NUL or other control characters
(PostgreSQL refuses NUL; control characters forge log lines and confuse pages), and no longer
than the column it goes to. Each problem is a 400 naming the field.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from ..errors import Invalid

#: An origin: scheme and host, an optional port, no path (an LMS's, or this server's).
ORIGIN = re.compile(r"https?://[A-Za-z0-9.\-]+(:\d{1,5})?")
#: An http(s) URL: a host without credentials, then an optional path and query; no spaces.
_URL = re.compile(r"https?://[^\s/@#?]+([/?][^\s#]*)?")
MAX_URL_CHARS = 2048
#: An exam lasts from 1 minute to a day.
MAX_MINUTES = 24 * 60

#: C0 and C1 control characters and DEL; ``multiline`` text keeps tab, newline and CR.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_CONTROL_MULTILINE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


def problem(value: str, max_len: int | None = None, multiline: bool = False) -> str | None:
    """What is wrong with ``value`` as stored text, or None."""
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return "holds a lone surrogate (not valid UTF-8)"
    if (_CONTROL_MULTILINE if multiline else _CONTROL).search(value):
        return "holds a control character"
    if max_len is not None and len(value) > max_len:
        return f"must be at most {max_len} characters, got {len(value)}"
    return None


def check(value: str, field: str, max_len: int | None = None, multiline: bool = False) -> str:
    """``value`` if it is acceptable text, else 400 ``invalid_text`` naming ``field``."""
    found = problem(value, max_len, multiline)
    if found is not None:
        raise Invalid("invalid_text", f"{field} {found}", field=field)
    return value


def url_problem(value: object, fragment: bool = False) -> str | None:
    """What keeps ``value`` from being a URL the server stores and calls or links to, or None:
    http(s), a host without credentials, no spaces or control characters, at most
    MAX_URL_CHARS, and no ``#fragment`` unless ``fragment``."""
    if not isinstance(value, str):
        return "must be an http(s) URL"
    if problem(value, MAX_URL_CHARS) is not None:
        return f"must be an http(s) URL of at most {MAX_URL_CHARS} characters, in plain text"
    address, _, tail = value.partition("#")
    if tail and not fragment:
        return "must be an http(s) URL without a #fragment"
    if not _URL.fullmatch(address) or (tail and any(c.isspace() for c in tail)):
        return "must be an http(s) URL (a host without credentials, then a path)"
    return None


def minutes_problem(value: object) -> str | None:
    """What keeps ``value`` (an integer, or digits) from being an exam's length, or None."""
    if isinstance(value, str):
        value = int(value) if value.isdigit() and len(value) < 6 else None
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_MINUTES:
        return f"must be whole minutes from 1 to {MAX_MINUTES}"
    return None


def check_all(pairs: Iterable[tuple[str, str]], where: str) -> None:
    """Every (name, value) of a form or a query string: no surrogates, no NUL or other control
    characters except line breaks and tabs (lengths are checked by whoever uses a field)."""
    for name, value in pairs:
        if problem(name, multiline=False) is not None:
            raise Invalid("invalid_text", f"a {where} field name is not valid text")
        found = problem(value, multiline=True)
        if found is not None:
            raise Invalid("invalid_text", f"{where} field {name!r} {found}", field=name)


def displayable(value: object, max_len: int) -> str:
    """A display name from a claim, made safe to store and show: control characters and lone
    surrogates replaced, cut to ``max_len`` (names are shown, never matched)."""
    text = str(value)
    text = text.encode("utf-8", "replace").decode("utf-8")
    return _CONTROL.sub("\ufffd", text)[:max_len]


def spreadsheet_cell(value: str) -> str:
    """A CSV cell a spreadsheet will not run as a formula (text from a browser or a reviewer
    may start with ``=``, ``+``, ``-`` or ``@``): such a cell gets a leading apostrophe."""
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value
