"""The tool's RSA keys: signing one JWT (an evidence bundle's attestation, a deep-linking
response, an ACS or AGS client assertion) and building the key set /lti/jwks serves, with the
loaded keys kept (as the server does now) and loaded from their encrypted PEM on every call (as
it did before 2026-12-03), in one run, in process, on one core.

Run: .venv/bin/python bench/tool_keys.py [--calls 40] [--keys 2]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from openproctor.server.lti.keys import ToolKeys
from openproctor.server.security.keys import Keyring, load_master_keys
from openproctor.server.storage import Storage


def median_ms(calls: int, work: Callable[[], object], before: Callable[[], None]) -> float:
    times = []
    for _ in range(calls):
        before()
        start = time.perf_counter()
        work()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=40)
    parser.add_argument("--keys", type=int, default=2, help="keys published (current + retired)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as home:
        store = Storage(f"sqlite:///{home}/keys.sqlite3")
        store.migrate()
        keyring = Keyring(tuple(load_master_keys((), Path(home) / "secret.key")))
        keys = ToolKeys(store.lti, keyring)
        for _ in range(args.keys):
            keys.rotate()
        claims = {"iss": "https://proctor.example.edu", "sub": "s", "aud": "x", "iat": 0}
        rows = [
            ("sign one JWT", lambda: keys.sign(claims)),
            (f"key set of {args.keys} keys (/lti/jwks)", keys.jwks),
        ]
        print(f"median of {args.calls} calls, ms")
        print(f"{'':34} {'keys kept':>10} {'loaded each call':>17} {'ratio':>6}")
        for name, work in rows:
            work()  # the first call loads the keys
            kept = median_ms(args.calls, work, lambda: None)
            loaded = median_ms(args.calls, work, keys._loaded.clear)
            print(f"{name:34} {kept:10.2f} {loaded:17.2f} {loaded / kept:6.0f}x")
        store.close()


if __name__ == "__main__":
    main()
