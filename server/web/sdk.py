"""SDK hosting under /sdk/v1/: the built bundle, precompressed, with the right caching.

Only files listed in the bundle's manifest are served. Content-hashed assets are immutable;
``loader.js`` and ``manifest.json`` are revalidated (no-cache + ETag). Brotli or gzip copies made
at build time are chosen by Accept-Encoding: nothing is compressed on the fly.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import Route

from ..errors import NotFound

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


class Bundle:
    """The built bundle on disk; re-reads its manifest when a rebuild replaced it."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._stamp: float | None = None
        self._files: dict[str, Any] = {}

    def files(self) -> dict[str, Any]:
        manifest = self.directory / "manifest.json"
        try:
            stamp = manifest.stat().st_mtime
        except FileNotFoundError:
            raise NotFound(
                "bundle_not_built",
                f"the SDK bundle is not built in {self.directory}: run python build.py",
            ) from None
        if stamp != self._stamp:
            self._files = json.loads(manifest.read_text())["files"]
            self._files["manifest.json"] = {
                "size": manifest.stat().st_size,
                "sha256": f"m{int(stamp * 1000)}",
                "encodings": {},
            }
            self._stamp = stamp
        return self._files


def _accepted(header: str) -> set[str]:
    accepted = set()
    for part in header.split(","):
        name, _, params = part.strip().partition(";")
        if params.strip().replace(" ", "") in ("q=0", "q=0.0", "q=0.00", "q=0.000"):
            continue
        accepted.add(name.strip().lower())
    return accepted


async def sdk_asset(request: Request) -> Response:
    bundle: Bundle = request.app.state.sdk_bundle
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
