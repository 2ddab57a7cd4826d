"""openproctor.wasm: builds the browser bundle (pinned Pyodide, the core, precompressed assets)."""

from .builder import build
from .fetch import BuildError

__all__ = ["BuildError", "build"]
