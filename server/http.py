"""Request helpers shared by the endpoints: bounded JSON bodies, bearer tokens, origins."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

from starlette.requests import Request

from openproctor.core import EncodingError, parse_json

from .errors import ApiError


@contextlib.asynccontextmanager
async def body_deadline(request: Request) -> AsyncIterator[None]:
    """Reading the body must end within the configured time: a slow client gets 408."""
    seconds = request.app.state.openproctor.settings.limits.body_timeout_seconds
    try:
        async with asyncio.timeout(seconds):
            yield
    except TimeoutError:
        raise ApiError(
            408, "request_timeout", f"the request body did not arrive within {seconds:g} s"
        ) from None


async def read_json(request: Request, limit: int) -> Any:
    """The request body as strictly parsed JSON, refusing bodies over ``limit`` bytes (413)
    before reading them whole, and anything that is not ``application/json`` (415)."""
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media != "application/json":
        raise ApiError(415, "unsupported_media_type", "send the body as application/json")
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > limit):
        raise ApiError(
            413, "body_too_large", f"the body must be at most {limit} bytes", limit=limit
        )
    body = bytearray()
    async with body_deadline(request):
        async for chunk in request.stream():
            body += chunk
            if len(body) > limit:
                raise ApiError(
                    413, "body_too_large", f"the body must be at most {limit} bytes", limit=limit
                )
    try:
        return parse_json(bytes(body))
    except EncodingError as exc:
        raise ApiError(400, "invalid_json", exc.message) from None


def bearer(request: Request) -> str:
    """The bearer token of the Authorization header (401 when missing)."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() not in ("bearer", "jwt") or not token.strip():
        raise ApiError(
            401,
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
    raise ApiError(
        403, "origin_not_allowed", f"origin {origin!r} is not registered for this integration"
    )
