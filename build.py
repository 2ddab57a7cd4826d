"""Build the openproctor browser bundle: python build.py [--out build/sdk]."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from openproctor.wasm import BuildError, build


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--out",
        type=Path,
        default=Path("build/sdk"),
        help="where the bundle goes (default: build/sdk)",
    )
    parser.add_argument(
        "--cache",
        type=Path,
        default=None,
        help="download and compression cache (default: build/cache)",
    )
    args = parser.parse_args()
    started = time.monotonic()
    try:
        manifest = build(args.out, args.cache, log=lambda line: print(line, flush=True))
    except BuildError as exc:
        print(f"build failed: {exc}", file=sys.stderr)
        return 1
    total = sum(f["size"] for f in manifest["files"].values())
    print(
        f"bundle ready in {args.out} ({len(manifest['files'])} files, {total:,} bytes, "
        f"{time.monotonic() - started:.1f} s)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
