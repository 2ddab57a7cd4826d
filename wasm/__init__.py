"""openproctor.wasm: builds the browser bundle (pinned Pyodide, the core, precompressed assets)."""

from .builder import BuildError, build

__all__ = ["BuildError", "build"]
