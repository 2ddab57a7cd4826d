"""openproctor.server: SDK hosting, session start, verified ingest, storage, CLI (Starlette)."""

from .app import create_app
from .settings import Settings

__all__ = ["Settings", "create_app"]
