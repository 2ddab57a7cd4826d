"""The Starlette application: a table of routes, a list of middleware, one error mapping."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import gc
import logging
import os
from collections.abc import AsyncIterator, Callable
from pathlib import Path

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from .lti import registration_routes
from .lti import routes as lti_routes
from .observability import configure_logging
from .services import Services
from .settings import Settings
from .storage import Storage
from .web import api, constructor_api, dashboard, demo, record, sdk
from .web.cors import RegisteredOriginsCORS
from .web.http import EXCEPTION_HANDLERS, RefuseBadText, SecurityHeaders
from .web.metrics import RequestMetrics, metrics_endpoint

log = logging.getLogger("openproctor.server")
STATIC = Path(__file__).resolve().parent / "web" / "static"


def create_app(
    settings: Settings | None = None,
    *,
    store: Storage | None = None,
    migrate: bool = False,
    purge_every: float | None = 3600.0,
) -> Starlette:
    """Build the app. ``migrate`` upgrades the schema first (the CLI does it once before
    starting workers); ``purge_every`` runs the retention job periodically (None: never)."""
    settings = settings or Settings.from_env()
    state = Services.build(settings, store)
    if migrate:
        state.store.migrate()

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        tasks = []
        if purge_every:
            job = functools.partial(_purge, state)
            tasks.append(asyncio.create_task(_every(purge_every, job, "retention job")))
        if settings.webhook_poll_seconds:
            deliver = state.webhook_sender.deliver_due
            every = settings.webhook_poll_seconds
            tasks.append(asyncio.create_task(_every(every, deliver, "webhook delivery round")))
            calls = state.lms_sender.deliver_due
            tasks.append(asyncio.create_task(_every(every, calls, "LMS call round")))
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            state.ingest_runner.close()

    routes = [
        *api.routes,
        *constructor_api.routes,
        *sdk.routes,
        *lti_routes.routes,
        *registration_routes.routes,
        *dashboard.routes,
        *record.routes,
        Route("/metrics", metrics_endpoint, methods=["GET"]),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]
    if settings.demo:
        demo.ensure_demo_integration(state)
        routes += demo.routes
    app = Starlette(
        routes=routes,
        middleware=[
            Middleware(RequestMetrics),
            Middleware(SecurityHeaders),
            Middleware(RefuseBadText),
            Middleware(RegisteredOriginsCORS, origins=state.store.integrations.origins),
        ],
        exception_handlers=EXCEPTION_HANDLERS,
        lifespan=lifespan,
    )
    app.state.openproctor = state
    return app


async def _every(seconds: float, job: Callable[[], object], name: str) -> None:
    """Run a blocking job off the event loop every ``seconds``; a failure is logged and the
    job runs again next time."""
    while True:
        await asyncio.sleep(seconds)
        try:
            await run_in_threadpool(job)
        except Exception:
            log.exception("%s failed; will retry", name)


def _purge(state: Services) -> None:
    result = state.store.purge()
    if result["sessions"]:
        log.info("retention: purged %(sessions)d session log(s), %(events)d event(s)", result)


def app_from_env() -> Starlette:
    """Factory for uvicorn workers: settings from OPENPROCTOR_* variables (set by the CLI)."""
    configure_logging(
        os.environ.get("OPENPROCTOR_LOG_FORMAT", "text"),
        os.environ.get("OPENPROCTOR_LOG_LEVEL", "info"),
    )
    app = create_app(Settings.from_env())
    # What exists now (routes, templates, SQLAlchemy's metadata and caches) lives as long as the
    # process: frozen, the collector stops rescanning it on every full collection (about 6% of
    # the ingest CPU, docs/PERFORMANCE.md).
    gc.freeze()
    return app
