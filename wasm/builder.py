"""Builds the SDK bundle: pinned Pyodide, the core (as a wheel and precompiled into a trimmed
standard library), our lock file, the loader and worker, precompressed copies and a manifest.

The bundle is built in a temporary folder beside the target and swapped in only when complete,
so a failed build never leaves a half-built bundle in place.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from itertools import repeat
from pathlib import Path
from typing import Any

from openproctor.core import SDK_VERSION

from .compress import precompress
from .fetch import BuildError, fetch_pyodide, pins, sha256_file
from .lock import make_lock
from .minify import install_esbuild, minify
from .wheel import build_wheel, copy_core

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
LOADER = ROOT / "loader"
#: loader.js names its version with this mark; the build writes SDK_VERSION in its place.
VERSION_MARK = "__OPENPROCTOR_VERSION__"
RUNTIME_FILES = ("pyodide.mjs", "pyodide.asm.mjs", "pyodide.asm.wasm", "python_stdlib.zip")

Log = Callable[[str], None]


def _short(digest: str) -> str:
    return digest[:12]


def _hashed_copy(source: Path, dest_dir: Path, stem: str, suffix: str) -> str:
    name = f"{stem}-{_short(sha256_file(source))}{suffix}"
    shutil.copyfile(source, dest_dir / name)
    return name


def _hashed_text(text: str, dest_dir: Path, stem: str, suffix: str) -> str:
    data = text.encode("utf-8")
    name = f"{stem}-{_short(hashlib.sha256(data).hexdigest())}{suffix}"
    (dest_dir / name).write_bytes(data)
    return name


def _source(name: str) -> str:
    return (LOADER / name).read_text(encoding="utf-8")


def _compile_stdlib(pyodide: Path, out: Path, log: Log) -> None:
    if shutil.which("node") is None:
        raise BuildError("node (Node.js 20) is needed to precompile the standard library")
    with tempfile.TemporaryDirectory() as tmp:
        source = copy_core(Path(tmp) / "src")
        done = subprocess.run(
            [
                "node",
                str(HERE / "compile_stdlib.mjs"),
                str(pyodide),
                str(source),
                str(HERE / "trace_session.py"),
                str(out),
            ],
            capture_output=True,
            text=True,
            check=False,
        )
    if done.returncode != 0:
        raise BuildError(
            f"precompiling the standard library in Pyodide failed:\n{done.stderr.strip()[-2000:]}"
        )
    log(f"  {done.stdout.strip()}")


def _assemble(stage: Path, cache: Path, log: Log) -> dict[str, Any]:
    pin = pins()["pyodide"]
    log("[1/5] Pyodide runtime")
    pyodide = fetch_pyodide(cache, log)
    runtime = f"runtime-{_short(pin['sha256'])}"
    (stage / runtime).mkdir()
    for name in RUNTIME_FILES:
        shutil.copyfile(pyodide / name, stage / runtime / name)

    log("[2/5] core wheel and lock file")
    with tempfile.TemporaryDirectory() as tmp:
        wheel = build_wheel(Path(tmp))
        package_dir = f"pkg-{_short(sha256_file(wheel))}"
        (stage / package_dir).mkdir()
        shutil.copyfile(wheel, stage / package_dir / wheel.name)
    lock = make_lock(pyodide / "pyodide-lock.json", stage / package_dir / wheel.name, SDK_VERSION)
    (stage / package_dir / "pyodide-lock.json").write_text(json.dumps(lock, indent=1))
    log(f"  {wheel.name} ({(stage / package_dir / wheel.name).stat().st_size:,} bytes)")

    log("[3/5] standard library + core precompiled to .pyc inside Pyodide")
    with tempfile.TemporaryDirectory() as tmp:
        zipped = Path(tmp) / "stdlib.zip"
        _compile_stdlib(pyodide, zipped, log)
        stdlib = _hashed_copy(zipped, stage, "stdlib", ".zip")

    log("[4/5] loader, worker, student panel and Constructor module, minified (esbuild)")
    esbuild = install_esbuild(cache)
    worker = _hashed_text(
        minify(esbuild, _source("worker.js"), module=True), stage, "worker", ".js"
    )
    compat = _hashed_text(minify(esbuild, _source("compat.js")), stage, "compat", ".js")
    panel = _hashed_text(minify(esbuild, _source("panel.js")), stage, "panel", ".js")
    # The panel's other languages, one small file each, fetched only for the student's own.
    catalogs = {
        path.stem: _hashed_text(
            json.dumps(json.loads(path.read_text(encoding="utf-8")), ensure_ascii=False),
            stage,
            f"i18n-{path.stem}",
            ".json",
        )
        for path in sorted((LOADER / "i18n").glob("*.json"))
    }
    loader = minify(esbuild, stamp_version(_source("loader.js"), SDK_VERSION))
    (stage / "loader.js").write_text(loader, encoding="utf-8")
    log(f"  loader.js {len(_source('loader.js')):,} -> {len(loader):,} bytes")

    log("[5/5] precompressing (brotli -q11, gzip -9; cached between builds)")
    files: dict[str, Any] = {}
    paths = sorted(p for p in stage.rglob("*") if p.is_file())
    # brotli -q11 of the wasm alone takes ~45 s: the files are compressed on every core, the
    # largest first (each process writes only its own file's .br/.gz and cache entries).
    started = time.monotonic()
    with ProcessPoolExecutor(max_workers=max(1, min(4, os.cpu_count() or 1))) as pool:
        largest_first = sorted(paths, key=lambda p: -p.stat().st_size)
        done = dict(
            zip(
                largest_first,
                pool.map(precompress, largest_first, repeat(cache / "compressed")),
                strict=True,
            )
        )
    for path in paths:
        encodings = done[path]
        relative = path.relative_to(stage).as_posix()
        files[relative] = {
            "size": path.stat().st_size,
            "sha256": sha256_file(path),
            "encodings": encodings,
        }
        if encodings and path.stat().st_size > 1_000_000 and time.monotonic() - started > 1:
            log(f"  {relative}: {path.stat().st_size:,} -> br {encodings.get('br', 0):,}")
    return {
        "sdk_version": SDK_VERSION,
        "pyodide_version": pin["version"],
        "assets": {
            "worker": worker,
            "compat": compat,
            "panel": panel,
            "i18n": catalogs,
            "runtime": runtime + "/",
            "stdlib": stdlib,
            "lock": f"{package_dir}/pyodide-lock.json",
            "wheel": f"{package_dir}/{wheel.name}",
        },
        "files": files,
    }


def stamp_version(loader: str, version: str) -> str:
    """loader.js with ``version`` (openproctor.core's SDK_VERSION) in place of its one mark."""
    if loader.count(VERSION_MARK) != 1:
        raise BuildError(f"loader.js must name its version once, as {VERSION_MARK!r}")
    return loader.replace(VERSION_MARK, version)


def build(out: Path, cache: Path | None = None, log: Log = print) -> dict[str, Any]:
    """Build the bundle into ``out`` (replacing it only when the new one is complete)."""
    out = out.resolve()
    cache = (cache or out.parent / "cache").resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=f".{out.name}.building-", dir=out.parent))
    try:
        manifest = _assemble(stage, cache, log)
        body = json.dumps(manifest, indent=1, sort_keys=True)
        (stage / "manifest.json").write_text(body)
        manifest["manifest_sha256"] = hashlib.sha256(body.encode()).hexdigest()
        old = out.with_name(f".{out.name}.old-{os.getpid()}")
        if out.exists():
            out.replace(old)
        stage.replace(out)
        shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise
    return manifest
