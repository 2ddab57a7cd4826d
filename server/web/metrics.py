"""``/metrics`` (Prometheus text, summed across ``serve --workers N``) and the middleware that
times every request by route template."""

from __future__ import annotations

import ipaddress
import os
import time

from prometheus_client import CollectorRegistry, generate_latest, multiprocess
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..observability import LATENCY, REGISTRY
from ..security.keys import same_text
from .http import error_response, services


async def metrics_endpoint(request: Request) -> Response:
    """The metrics, for a scraper that presents ``OPENPROCTOR_METRICS_TOKEN`` as a bearer
    token; without a token configured, only for a direct connection from this machine (not
    through a proxy): route counts and latencies say how busy an exam is."""
    configured = services(request).settings.metrics_token
    if configured:
        given = request.headers.get("authorization", "")
        if not same_text("Bearer " + configured, given):
            return error_response(
                401, "metrics_token_required", "send 'Authorization: Bearer <metrics token>'"
            )
    elif not _local_and_direct(request):
        return error_response(
            403,
            "metrics_not_public",
            "/metrics answers only on this machine; set OPENPROCTOR_METRICS_TOKEN to scrape it "
            "from elsewhere",
        )
    registry = REGISTRY
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):  # several workers: add up their files
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)


def _local_and_direct(request: Request) -> bool:
    forwarded = ("forwarded", "x-forwarded-for", "x-real-ip")
    if any(name in request.headers for name in forwarded):
        return False
    host = request.client.host if request.client else ""
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "testclient"  # Starlette's TestClient, in-process


class RequestMetrics:
    """Times every request by route template (not raw path: no session ids in labels)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def observe(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, observe)
        finally:
            route = scope.get("route")
            name = getattr(route, "path", None) or _family(scope["path"])
            LATENCY.labels(name, f"{status // 100}xx").observe(time.perf_counter() - started)


def _family(path: str) -> str:
    return "/sdk/v1/*" if path.startswith("/sdk/v1/") else "other"
