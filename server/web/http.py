"""HTTP for every endpoint: the one table from domain errors to statuses and JSON bodies, the
bounded body readers, bearer tokens, origins, and the middleware every request passes."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

from sqlalchemy.exc import OperationalError
from starlette.convertors import Convertor, register_url_convertor
from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from openproctor.core import EncodingError, parse_json

from .. import errors
from ..errors import OpenproctorError
from ..security import validation

if TYPE_CHECKING:
    from ..services import Services

log = logging.getLogger("openproctor.server")

#: Each kind of domain error, as HTTP.
STATUS: dict[type[OpenproctorError], int] = {
    errors.Invalid: 400,
    errors.Unauthorized: 401,
    errors.Forbidden: 403,
    errors.NotFound: 404,
    errors.Conflict: 409,
    errors.Gone: 410,
    errors.TooLarge: 413,
    errors.Refused: 422,
    errors.TooManyRequests: 429,
    errors.Misconfigured: 500,
    errors.UpstreamFailed: 502,
    errors.Unavailable: 503,
}


class HttpError(OpenproctorError):
    """A refusal that exists only in HTTP (a slow body, a wrong media type): its own status."""

    def __init__(self, status: int, code: str, message: str, **extra: Any) -> None:
        super().__init__(code, message, **extra)
        self.status = status


def status_of(exc: OpenproctorError) -> int:
    if isinstance(exc, HttpError):
        return exc.status
    return next(s for kind, s in STATUS.items() if isinstance(exc, kind))


def error_response(status: int, code: str, message: str, **extra: Any) -> JSONResponse:
    """Every error body: ``{"error": {"code", "message", ...fields}}``."""
    return JSONResponse({"error": {"code": code, "message": message, **extra}}, status_code=status)


def domain_error_response(exc: OpenproctorError) -> JSONResponse:
    response = error_response(status_of(exc), exc.code, exc.message, **exc.extra)
    if isinstance(exc, errors.TooManyRequests):
        response.headers["retry-after"] = str(exc.retry_after)
    return response


async def _handle_domain_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, OpenproctorError)
    return domain_error_response(exc)


_HTTP_CODES = {404: "not_found", 405: "method_not_allowed", 400: "bad_request"}


async def _handle_http_exception(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    code = _HTTP_CODES.get(exc.status_code, "http_error")
    response = error_response(exc.status_code, code, str(exc.detail))
    response.headers.update(exc.headers or {})
    return response


async def _handle_database_error(request: Request, exc: Exception) -> Response:
    log.error(
        "database unavailable on %s %s: %s", request.method, request.url.path, type(exc).__name__
    )
    return error_response(
        503, "database_unavailable", "the database is unavailable; nothing was stored, retry later"
    )


async def _handle_unexpected(request: Request, exc: Exception) -> Response:
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return error_response(500, "internal_error", "the server failed to handle this request")


EXCEPTION_HANDLERS = {
    OpenproctorError: _handle_domain_error,
    OperationalError: _handle_database_error,
    HTTPException: _handle_http_exception,
    Exception: _handle_unexpected,
}


@contextlib.asynccontextmanager
async def body_deadline(request: Request) -> AsyncIterator[None]:
    """Reading the body must end within the configured time: a slow client gets 408."""
    seconds = services(request).settings.limits.body_timeout_seconds
    try:
        async with asyncio.timeout(seconds):
            yield
    except TimeoutError:
        raise HttpError(
            408, "request_timeout", f"the request body did not arrive within {seconds:g} s"
        ) from None


def _check_declared_size(request: Request, limit: int, what: str) -> None:
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > limit):
        raise errors.TooLarge(
            "body_too_large", f"the {what} must be at most {limit} bytes", limit=limit
        )


async def read_form(request: Request, limit: int, max_fields: int) -> FormData:
    """A posted form (no files), refused before it is read when it is larger than ``limit``
    bytes or has more than ``max_fields`` fields, and when a field is not plain text."""
    _check_declared_size(request, limit, "form")
    async with body_deadline(request):
        form = await request.form(max_files=0, max_fields=max_fields)
    validation.check_all(((k, v) for k, v in form.multi_items() if isinstance(v, str)), "form")
    return form


async def read_json(request: Request, limit: int) -> Any:
    """The request body as strictly parsed JSON, refusing bodies over ``limit`` bytes (413)
    before reading them whole, and anything that is not ``application/json`` (415)."""
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media != "application/json":
        raise HttpError(415, "unsupported_media_type", "send the body as application/json")
    _check_declared_size(request, limit, "body")
    body = bytearray()
    async with body_deadline(request):
        async for chunk in request.stream():
            body += chunk
            if len(body) > limit:
                raise errors.TooLarge(
                    "body_too_large", f"the body must be at most {limit} bytes", limit=limit
                )
    try:
        return parse_json(bytes(body))
    except EncodingError as exc:
        raise errors.Invalid("invalid_json", exc.message) from None


def services(request: Request) -> Services:
    """The app's services (built once, services.py)."""
    found: Services = request.app.state.openproctor
    return found


def bearer(request: Request) -> str:
    """The bearer token of the Authorization header (401 when missing)."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() not in ("bearer", "jwt") or not token.strip():
        raise errors.Unauthorized(
            "missing_token",
            "send 'Authorization: Bearer <token>'",
        )
    return token.strip()


def own_origin(request: Request, configured: str | None) -> str:
    if configured:
        return configured.rstrip("/")
    return f"{request.url.scheme}://{request.url.netloc}"


def check_origin(request: Request, allowed: tuple[str, ...], configured: str | None) -> None:
    """Browsers send Origin on cross-site calls: it must be one of the integration's origins."""
    origin = request.headers.get("origin")
    if origin is None or origin == own_origin(request, configured) or origin in allowed:
        return
    raise errors.Forbidden(
        "origin_not_allowed", f"origin {origin!r} is not registered for this integration"
    )


class RefuseBadText:
    """Every request's path and query string, checked before any endpoint: a NUL or another
    control character there is refused with 400 (PostgreSQL cannot store or compare NUL, and
    nothing an endpoint reads from a URL needs one)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            query = scope.get("query_string", b"").decode("latin-1")
            try:
                if validation.problem(scope["path"]) is not None:
                    raise errors.Invalid("invalid_text", "the path holds a control character")
                validation.check_all(parse_qsl(query, keep_blank_values=True), "query")
            except OpenproctorError as exc:
                await domain_error_response(exc)(scope, receive, send)
                return
        await self.app(scope, receive, send)


class RowId(Convertor[int]):
    """``{name:id}`` in a route: a row id, 1 to 9 digits (every database integer column holds
    it; a longer number does not match the route and answers 404)."""

    regex = "[0-9]{1,9}"

    def convert(self, value: str) -> int:
        return int(value)

    def to_string(self, value: int) -> str:
        return str(value)


register_url_convertor("id", RowId())


class SecurityHeaders:
    """Headers every response carries: ``X-Content-Type-Options: nosniff`` (no response is
    ever sniffed into something else), and ``Strict-Transport-Security`` when the request came
    over https (directly, or through a proxy whose X-Forwarded-Proto uvicorn trusts)."""

    HSTS = b"max-age=31536000; includeSubDomains"

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        secure = scope.get("scheme") == "https"

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                names = {name.lower() for name, _ in headers}
                if b"x-content-type-options" not in names:
                    headers.append((b"x-content-type-options", b"nosniff"))
                if secure and b"strict-transport-security" not in names:
                    headers.append((b"strict-transport-security", self.HSTS))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, with_headers)
