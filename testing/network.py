"""A recorder of every request a browser context makes, the page's and its workers' alike, and
the two privacy assertions built on it."""

from __future__ import annotations

import base64
import json
import urllib.parse
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    url: str
    resource_type: str
    headers: dict[str, str]
    body: bytes

    @property
    def origin(self) -> str:
        return origin_of(self.url)

    def __str__(self) -> str:
        return f"{self.method} {self.url} ({self.resource_type}, {len(self.body)} B body)"


def origin_of(url: str) -> str:
    """``https://lms.example.edu`` of any URL (a bare host is taken as http)."""
    parts = urllib.parse.urlsplit(url if "//" in url else f"http://{url}")
    return f"{parts.scheme}://{parts.netloc}"


class RequestRecorder:
    """Records the requests of a Playwright browser context (or a page's context) from now on.

    Context-level request events include requests made by dedicated workers in Chromium and
    Firefox, which ``page.on("request")`` does not show; ``data:`` and ``blob:`` URLs never
    leave the browser and are not recorded."""

    def __init__(self, context: Any) -> None:
        self.context = getattr(context, "context", context)
        self.requests: list[RecordedRequest] = []
        self.context.on("request", self._record)

    def _record(self, request: Any) -> None:
        if request.url.startswith(("data:", "blob:", "about:")):
            return
        try:
            body = request.post_data_buffer or b""
        except Exception:  # a body the browser no longer holds (a very large upload)
            body = b""
        self.requests.append(
            RecordedRequest(
                request.method,
                request.url,
                request.resource_type,
                dict(request.headers),
                bytes(body),
            )
        )

    def stop(self) -> None:
        self.context.remove_listener("request", self._record)

    # -- assertions ----------------------------------------------------------------------------

    def assert_only_origins(self, *origins: str) -> None:
        """Every request went to one of ``origins`` (``https://lms.example.edu``, or a full URL
        whose origin is taken). Fails listing each request that went elsewhere."""
        allowed = {origin_of(o) for o in origins}
        elsewhere = [r for r in self.requests if r.origin not in allowed]
        if elsewhere:
            listed = "\n  ".join(str(r) for r in elsewhere[:20])
            more = f"\n  ... and {len(elsewhere) - 20} more" if len(elsewhere) > 20 else ""
            raise AssertionError(
                f"{len(elsewhere)} of {len(self.requests)} requests went to an origin other "
                f"than {sorted(allowed)}:\n  {listed}{more}"
            )

    def assert_no_content_left(self, marker: str) -> None:
        """No request carried ``marker`` (text the student typed, pasted or saw) in its URL, its
        headers or its body: as sent, percent-encoded, JSON-escaped or base64-encoded."""
        if not marker:
            raise ValueError("assert_no_content_left() needs a non-empty marker")
        forms = {
            marker,
            urllib.parse.quote(marker),
            urllib.parse.quote(marker, safe=""),
            urllib.parse.quote_plus(marker),
            json.dumps(marker)[1:-1],
            json.dumps(marker, ensure_ascii=True)[1:-1],
        }
        encoded = {f.encode() for f in forms}
        encoded.add(base64.b64encode(marker.encode()).rstrip(b"="))
        encoded.add(base64.urlsafe_b64encode(marker.encode()).rstrip(b"="))
        leaks = []
        for request in self.requests:
            where = []
            if any(f in request.url for f in forms):
                where.append("URL")
            if any(any(f in value for f in forms) for value in request.headers.values()):
                where.append("headers")
            if any(e in request.body for e in encoded):
                where.append("body")
            if where:
                leaks.append(f"{request} in its {' and '.join(where)}")
        if leaks:
            raise AssertionError(
                f"{len(leaks)} request(s) carried the marker {marker!r}:\n  " + "\n  ".join(leaks)
            )
