"""The built SDK bundle on disk (the browser's files): which files it holds, from its manifest."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .errors import NotFound


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
