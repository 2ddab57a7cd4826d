"""Precompressed copies (brotli, gzip) of the large assets, cached by content hash, so the server
never compresses on the fly."""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path

import brotli

from .fetch import sha256_file

COMPRESSIBLE = (".wasm", ".mjs", ".js", ".zip", ".json")
MIN_SIZE = 1024
MIN_GAIN = 0.9  # keep a compressed copy only when it is at least 10% smaller


def precompress(path: Path, cache: Path) -> dict[str, int]:
    """Write ``path.br`` and ``path.gz`` beside ``path`` when worth it; return their sizes."""
    if path.suffix not in COMPRESSIBLE or path.stat().st_size < MIN_SIZE:
        return {}
    digest = sha256_file(path)
    cache.mkdir(parents=True, exist_ok=True)
    sizes: dict[str, int] = {}
    raw = None
    for encoding, suffix in (("br", ".br"), ("gzip", ".gz")):
        cached = cache / f"{digest}{suffix}"
        if not cached.exists():
            raw = raw if raw is not None else path.read_bytes()
            data = (
                brotli.compress(raw, quality=11)
                if encoding == "br"
                else gzip.compress(raw, compresslevel=9, mtime=0)
            )
            tmp = cached.with_suffix(".tmp")
            tmp.write_bytes(data)
            tmp.replace(cached)
        if cached.stat().st_size <= path.stat().st_size * MIN_GAIN:
            shutil.copyfile(cached, path.with_name(path.name + suffix))
            sizes[encoding] = cached.stat().st_size
    return sizes
