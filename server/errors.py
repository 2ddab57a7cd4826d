"""The server's domain errors: what went wrong, as a stable code, a readable message and the
fields that say where (no HTTP here: web/http.py maps each kind to a status, once).

Raise the kind that fits; ``extra`` fields (``field``, ``claim``, ``seq``, ``limit`` ...) reach
the client in the error body.
"""

from __future__ import annotations

from typing import Any


class OpenproctorError(Exception):
    """Base of every refusal the server answers with. ``code`` is stable, ``message`` says what
    to do, ``extra`` holds the fields that name the problem."""

    def __init__(self, code: str, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.extra = extra

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.code!r}, {self.message!r})"


class Invalid(OpenproctorError):
    """The input is malformed or breaks a rule (names the ``field`` or ``claim``)."""


class Unauthorized(OpenproctorError):
    """No credential, or one that does not verify."""


class Forbidden(OpenproctorError):
    """A valid credential that may not do this."""


class NotFound(OpenproctorError):
    """Nothing by that name, or nothing this caller may see (the two look the same)."""


class Conflict(OpenproctorError):
    """The request contradicts what is stored (exists already, finished, stale)."""


class Gone(OpenproctorError):
    """It existed and was deleted (retention)."""


class TooLarge(OpenproctorError):
    """Over a size or count limit (``limit`` says which)."""


class Refused(OpenproctorError):
    """Well-formed, but refused on its merits: a broken chain, an event past the deadline."""


class TooManyRequests(OpenproctorError):
    """Over a rate limit; ``retry_after`` seconds until another attempt may succeed."""

    def __init__(self, code: str, message: str, retry_after: int, **extra: Any) -> None:
        super().__init__(code, message, retry_after=retry_after, **extra)
        self.retry_after = retry_after


class UpstreamFailed(OpenproctorError):
    """A service the server called (a platform's key set) did not answer usefully."""


class Unavailable(OpenproctorError):
    """The database (or the writer) could not do it now; nothing was stored; retry."""


class Misconfigured(OpenproctorError):
    """The server's own configuration is broken (a master key missing): for the operator."""
