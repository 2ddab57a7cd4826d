"""Fetching the pinned Pyodide runtime from the npm registry, integrity-checked and cached."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path
from typing import Any

PINS = Path(__file__).resolve().parent / "pins.json"


class BuildError(Exception):
    """The bundle cannot be built; the message says what to do."""


def pins() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(PINS.read_text())
    return data


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def fetch_pyodide(cache: Path, log: Any = print) -> Path:
    """The extracted, verified Pyodide package directory (downloaded once, then reused)."""
    pin = pins()["pyodide"]
    target = cache / f"pyodide-{pin['version']}"
    marker = target / ".verified-sha256"
    if marker.exists() and marker.read_text().strip() == pin["sha256"]:
        log(f"  pyodide {pin['version']}: cached and verified")
        return target
    cache.mkdir(parents=True, exist_ok=True)
    tarball = cache / pin["tarball"]
    if not tarball.exists() or sha256_file(tarball) != pin["sha256"]:
        log(f"  downloading {pin['npm_spec']} from the npm registry (about 6.5 MB) ...")
        if shutil.which("npm") is None:
            raise BuildError("npm is needed to fetch Pyodide (install Node.js 20 and npm)")
        with tempfile.TemporaryDirectory(dir=cache) as tmp:
            done = subprocess.run(
                ["npm", "pack", pin["npm_spec"], "--pack-destination", tmp],
                capture_output=True,
                text=True,
                check=False,
            )
            if done.returncode != 0:
                raise BuildError(f"npm pack {pin['npm_spec']} failed:\n{done.stderr.strip()}")
            fetched = Path(tmp) / pin["tarball"]
            actual = sha256_file(fetched)
            if actual != pin["sha256"]:
                raise BuildError(
                    f"{pin['tarball']} has sha256 {actual}, but wasm/pins.json expects "
                    f"{pin['sha256']}: refusing a runtime that is not the pinned one"
                )
            fetched.replace(tarball)
        log(f"  downloaded and verified {tarball.name} ({tarball.stat().st_size:,} bytes)")
    with tempfile.TemporaryDirectory(dir=cache) as tmp:
        with tarfile.open(tarball) as archive:
            archive.extractall(tmp, filter="data")
        if target.exists():
            shutil.rmtree(target)
        (Path(tmp) / "package").replace(target)
    missing = [f for f in pin["runtime_files"] if not (target / f).exists()]
    if missing:
        raise BuildError(f"the Pyodide package lacks {', '.join(missing)}")
    marker.write_text(pin["sha256"] + "\n")
    return target
