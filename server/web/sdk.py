"""SDK hosting under /sdk/v1/: the built bundle, precompressed, with the right caching.

Only files listed in the bundle's manifest are served. Content-hashed assets are immutable;
``loader.js`` and ``manifest.json`` are revalidated (no-cache + ETag). Brotli or gzip copies made
at build time are chosen by Accept-Encoding: nothing is compressed on the fly.
"""

from __future__ import annotations

from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import Route

from ..errors import NotFound
from .http import services

MEDIA_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".wasm": "application/wasm",
    ".zip": "application/zip",
    ".json": "application/json",
    ".whl": "application/zip",
}
REVALIDATED = {"loader.js", "manifest.json"}
IMMUTABLE = "public, max-age=31536000, immutable"


def _accepted(header: str) -> set[str]:
    accepted = set()
    for part in header.split(","):
        name, _, params = part.strip().partition(";")
        if params.strip().replace(" ", "") in ("q=0", "q=0.0", "q=0.00", "q=0.000"):
            continue
        accepted.add(name.strip().lower())
    return accepted


async def sdk_asset(request: Request) -> Response:
    bundle = services(request).bundle
    name = request.path_params["path"]
    entry = bundle.files().get(name)
    if entry is None:
        raise NotFound("not_found", f"no SDK file {name!r}")
    path = bundle.directory / name
    encoding = None
    accepted = _accepted(request.headers.get("accept-encoding", ""))
    for candidate, suffix in (("br", ".br"), ("gzip", ".gz")):
        if candidate in entry.get("encodings", {}) and candidate in accepted:
            encoding, path = candidate, path.with_name(path.name + suffix)
            break
    etag = f'"{entry["sha256"][:32]}{"-" + encoding if encoding else ""}"'
    headers = {
        "cache-control": "no-cache" if name in REVALIDATED else IMMUTABLE,
        "etag": etag,
        "vary": "Accept-Encoding",
        "access-control-allow-origin": "*",  # public static files, loaded by LMS pages
        "cross-origin-resource-policy": "cross-origin",
        "x-content-type-options": "nosniff",
    }
    if encoding:
        headers["content-encoding"] = encoding
    media = MEDIA_TYPES.get(Path(name).suffix, "application/octet-stream")
    if etag in request.headers.get("if-none-match", ""):
        return Response(status_code=304, headers=headers)
    return FileResponse(path, headers=headers, media_type=media)


routes = [Route("/sdk/v1/{path:path}", sdk_asset, methods=["GET", "HEAD"])]
