"""Run the server: ``openproctor serve``."""

from __future__ import annotations

import argparse
import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..security.validation import ORIGIN
from ..services import opened
from .common import settings_of


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    settings = settings_of(args)
    public = (args.public_origin or settings.public_origin or "").rstrip("/")
    if public and not ORIGIN.fullmatch(public):
        raise SystemExit(
            f"error: --public-origin {public!r} must look like https://proctor.uni-a.edu "
            "(scheme and host, optional port, no path)"
        )
    if not public and not args.demo:
        raise SystemExit(
            "error: give the server's public origin (--public-origin https://proctor.uni-a.edu "
            "or OPENPROCTOR_PUBLIC_ORIGIN): links, LTI tool URLs and the evidence attestation "
            "are built from it, never from a request's Host header (only --demo may go without)"
        )
    if public:
        os.environ["OPENPROCTOR_PUBLIC_ORIGIN"] = public
    with opened(settings) as services:  # migrated, and the key file created, once
        where = repr(services.store)
    os.environ["OPENPROCTOR_DATABASE_URL"] = settings.database_url
    os.environ["OPENPROCTOR_SECRET_FILE"] = str(settings.secret_file)
    if args.bundle_dir is not None:
        os.environ["OPENPROCTOR_BUNDLE_DIR"] = str(args.bundle_dir)
    if args.demo:
        os.environ["OPENPROCTOR_DEMO"] = "1"
    print(
        f"openproctor serving on http://{args.host}:{args.port} "
        f"(database {where}, {args.workers} worker(s))",
        flush=True,
    )
    os.environ["OPENPROCTOR_LOG_FORMAT"] = args.log_format
    os.environ["OPENPROCTOR_LOG_LEVEL"] = args.log_level
    with _metrics_shared_by(args.workers):
        uvicorn.run(
            "openproctor.server.app:app_from_env",
            factory=True,
            host=args.host,
            port=args.port,
            workers=args.workers,
            log_level=args.log_level,
            proxy_headers=args.proxy_headers,
            limit_concurrency=args.limit_concurrency,
            timeout_keep_alive=args.timeout_keep_alive,
        )
    return 0


@contextlib.contextmanager
def _metrics_shared_by(workers: int) -> Iterator[None]:
    """Several workers answer /metrics from one port: let them share their values through
    files (prometheus-client's multiprocess mode), in a fresh directory removed at exit."""
    if workers <= 1 or os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        yield
        return
    with tempfile.TemporaryDirectory(prefix="openproctor-metrics-") as directory:
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = directory
        try:
            yield
        finally:
            del os.environ["PROMETHEUS_MULTIPROC_DIR"]


def add_commands(sub: Any, common: argparse.ArgumentParser) -> None:
    serve = sub.add_parser("serve", parents=[common], help="run the server (uvicorn)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument(
        "--workers", type=int, default=1, help="server processes (use PostgreSQL for more than one)"
    )
    serve.add_argument("--log-level", default="info")
    serve.add_argument(
        "--log-format",
        choices=["text", "json"],
        default="text",
        help="openproctor's own log lines: plain text or one JSON object a line",
    )
    serve.add_argument(
        "--proxy-headers", action="store_true", help="trust X-Forwarded-* from a reverse proxy"
    )
    serve.add_argument(
        "--limit-concurrency",
        type=int,
        default=None,
        metavar="N",
        help="answer 503 beyond N open connections and requests per process (default: no limit)",
    )
    serve.add_argument(
        "--timeout-keep-alive",
        type=int,
        default=5,
        metavar="SECONDS",
        help="close idle keep-alive connections after this long (default 5)",
    )
    serve.add_argument(
        "--public-origin",
        default=None,
        metavar="URL",
        help="this server's public origin, e.g. https://proctor.uni-a.edu (required unless "
        "--demo; default: $OPENPROCTOR_PUBLIC_ORIGIN)",
    )
    serve.add_argument(
        "--demo",
        action="store_true",
        help="also serve the demo exam at /demo (registers a 'demo' integration)",
    )
    serve.add_argument(
        "--bundle-dir",
        type=Path,
        default=None,
        help="the built SDK bundle (default: $OPENPROCTOR_BUNDLE_DIR, else ./build/sdk when built, "
        "else the bundle inside the installed wheel)",
    )
    serve.set_defaults(func=cmd_serve)
