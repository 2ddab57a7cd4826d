"""Canonical encoding: the one byte form of a value that every runtime signs and verifies.

Rules (pinned by golden vectors in tests/unit/test_encoding.py):
JSON text, UTF-8, object keys sorted by code point, no whitespace, non-ASCII kept as UTF-8
(not ``\\u`` escapes). Values are ``null``, ``true``/``false``, integers within JavaScript's safe
range (|n| <= 2**53 - 1), strings, arrays and objects with string keys, nested at most 16 deep.
A float is accepted only when it is integral (``3.0`` encodes as ``3``), so a number that made a
round trip through JavaScript encodes the same; any other float, NaN or infinity is refused.
"""

from __future__ import annotations

import json
import math
from typing import Any

from .errors import EncodingError

MAX_SAFE_INTEGER = 2**53 - 1
MAX_DEPTH = 16

_encoder = json.JSONEncoder(
    ensure_ascii=False, allow_nan=False, sort_keys=True, separators=(",", ":")
)


def canonical_encode(value: Any) -> bytes:
    """Return the canonical bytes of ``value``; raise :class:`EncodingError` naming the bad path."""
    if _already_canonical(value, 0):
        try:
            return _encoder.encode(value).encode("utf-8")
        except UnicodeEncodeError:
            pass  # a lone surrogate: the walk below names where it is
    return _encoder.encode(normalise_value(value)).encode("utf-8")


def encode_checked(value: Any) -> bytes:
    """Canonical bytes of a value the caller has already validated field by field.

    Only for values built from :func:`~openproctor.core.events.check_data` output (integers in
    range, printable strings, booleans, null): it skips the walk that :func:`canonical_encode`
    does, which is a third of the cost of verifying an event.
    """
    return _encoder.encode(value).encode("utf-8")


_LEAVES = (str, int, bool, type(None))


def _already_canonical(value: Any, depth: int) -> bool:
    """Fast check (no copies, no path strings) that ``value`` needs no conversion.

    False means "take the careful path": it converts integral floats and reports errors.
    """
    kind = type(value)
    if kind is int:
        return bool(-MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER)
    if kind in _LEAVES:
        return True
    if depth >= MAX_DEPTH:
        return False
    if kind is dict:
        for key, item in value.items():
            if type(key) is not str:
                return False
            item_kind = type(item)
            if item_kind is int:
                if not -MAX_SAFE_INTEGER <= item <= MAX_SAFE_INTEGER:
                    return False
            elif item_kind not in _LEAVES and not _already_canonical(item, depth + 1):
                return False
        return True
    if kind is list:
        return all(_already_canonical(item, depth + 1) for item in value)
    return False


def normalise_value(value: Any, path: str = "$", depth: int = 0) -> Any:
    """Return ``value`` with integral floats turned into ints and tuples into lists.

    Raises :class:`EncodingError` for anything the canonical encoding does not admit.
    """
    if depth > MAX_DEPTH:
        raise EncodingError(path, f"nested deeper than {MAX_DEPTH} levels")
    if value is None or value is True or value is False:
        return value
    kind = type(value)
    if kind is str:
        _check_text(value, path)
        return value
    if kind is int:
        if -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER:
            return value
        raise EncodingError(path, "integer outside the safe range ±(2**53 - 1)")
    if kind is float:
        if math.isfinite(value) and value.is_integer():
            return normalise_value(int(value), path, depth)
        raise EncodingError(path, f"only integers are allowed, got the float {value!r}")
    if kind is dict:
        out = {}
        for key, item in value.items():
            if type(key) is not str:
                raise EncodingError(path, f"object keys must be strings, got {type(key).__name__}")
            _check_text(key, path)
            out[key] = normalise_value(item, f"{path}.{key}", depth + 1)
        return out
    if kind is list or kind is tuple:
        return [normalise_value(item, f"{path}[{i}]", depth + 1) for i, item in enumerate(value)]
    raise EncodingError(path, f"type {kind.__name__} cannot be encoded")


def _check_text(text: str, path: str) -> None:
    # Lone surrogates have no UTF-8 form; JSON parsers of other runtimes would replace them.
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            raise EncodingError(path, "string holds a lone surrogate (not valid UTF-8)") from None


def _refuse_constant(name: str) -> Any:
    raise EncodingError("$", f"{name} is not valid JSON")


def _refuse_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out = dict(pairs)
    if len(out) != len(pairs):  # only then look for which key came twice
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise EncodingError("$", f"duplicate object key {key!r}")
            seen.add(key)
    return out


def parse_json(text: str | bytes) -> Any:
    """Parse JSON strictly: no duplicate keys, no NaN/Infinity; raise :class:`EncodingError`."""
    try:
        return json.loads(
            text, object_pairs_hook=_refuse_duplicates, parse_constant=_refuse_constant
        )
    except EncodingError:
        raise
    except (ValueError, RecursionError) as exc:
        raise EncodingError("$", f"not valid JSON ({exc})") from None
