"""Minifying the loader, the worker, the student panel and the Constructor compatibility module
with esbuild, pinned (with its platform binary) by ``wasm/tools/package-lock.json`` and installed
by ``npm ci`` into the build cache once per lock (with axe-core, which the browser tests use).
The readable sources stay in ``loader/``; the bundle serves the minified copies (the loader is
the one file every exam page fetches before anything else)."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

from .fetch import BuildError, sha256_file

TOOLS = Path(__file__).resolve().parent / "tools"


def install_tools(cache: Path) -> Path:
    """The folder where the pinned tools of ``wasm/tools`` are installed (``npm ci`` the first
    time for a lock, then reused): its ``node_modules`` holds esbuild and axe-core."""
    lock = TOOLS / "package-lock.json"
    target = cache / f"tools-{sha256_file(lock)[:12]}"
    if (target / "node_modules" / ".bin" / "esbuild").exists():
        return target
    if shutil.which("npm") is None:
        raise BuildError("npm is needed to install the build tools (install Node.js 20 and npm)")
    cache.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=cache))
    try:
        for name in ("package.json", "package-lock.json"):
            shutil.copyfile(TOOLS / name, staging / name)
        # --ignore-scripts: esbuild's install script only re-checks the binary that npm already
        # verified against the lock's integrity hash.
        done = subprocess.run(
            ["npm", "ci", "--ignore-scripts", "--no-audit", "--no-fund", "--loglevel=error"],
            cwd=staging,
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            raise BuildError(f"npm ci (wasm/tools) failed:\n{done.stderr.strip()}")
        if target.exists():
            shutil.rmtree(target)
        staging.replace(target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return target


def install_esbuild(cache: Path) -> Path:
    """The pinned esbuild's executable."""
    return install_tools(cache) / "node_modules" / ".bin" / "esbuild"


def axe_core(cache: Path) -> Path:
    """The pinned axe-core's browser script (the accessibility tests inject it)."""
    return install_tools(cache) / "node_modules" / "axe-core" / "axe.min.js"


def minify(esbuild: Path, source: str, *, module: bool = False) -> str:
    """``source`` minified: a classic script for browsers of ES2017, or a module (the worker)."""
    options = ["--format=esm", "--target=es2020"] if module else ["--target=es2017"]
    done = subprocess.run(
        [str(esbuild), "--minify", "--log-level=error", *options],
        input=source,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise BuildError(f"esbuild could not minify the script:\n{done.stderr.strip()}")
    return done.stdout
