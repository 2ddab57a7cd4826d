"""The writer alone: signed 50-event batches of many sessions applied through the ingest service
in groups, as the writer thread does, without HTTP; this process's CPU per batch, for SQLite and
PostgreSQL (a schema of its own, dropped afterwards), beside the floor: the same batches only
verified by openproctor.core (``verify_batch``, no database). Bounded: a fixed number of batches.

Run: .venv/bin/python bench/ingest_writer.py [--sessions 40] [--batches 10] [--runs 3]
"""

from __future__ import annotations

import argparse
import json
import secrets
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from starlette.testclient import TestClient

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from openproctor.core import ChainState, Signer, verify_batch
from openproctor.server import Settings, create_app
from openproctor.server.security.tokens import mint_start_token
from openproctor.server.settings import Limits
from openproctor.server.storage import Storage
from tests.support import ENVIRONMENT

PG_URL = "postgresql+psycopg://root@127.0.0.1:5432/test"
SECRET = "bench-writer-secret-" + "0123456789abcdef" * 3


def signed_batches(client: TestClient, n: int, batches: int) -> tuple[str, list[list[dict]]]:
    jwt = mint_start_token(SECRET, user_id=f"u{n}", exam_id="bench", session_id=f"s{n}")
    grant = client.post("/api/v1/sessions", json={"integrationName": "bench", "jwt": jwt}).json()
    signer = Signer(bytes.fromhex(grant["signing_key"]), grant["session_id"])
    start = {"sdk_version": "0.1.0", **ENVIRONMENT, "heartbeat_ms": 15000}
    events, t, out = [signer.sign(0, "session_start", start)], 0, []
    for _ in range(batches):
        while len(events) < 50:
            t += 300
            kind = "heartbeat" if t % 3000 else "focus_loss"  # one event in ten
            data = {} if kind == "heartbeat" else {"duration_ms": 250, "count": 1}
            events.append(signer.sign(t, kind, data))
        out.append(json.loads(json.dumps([e.to_dict() for e in events])))  # as parsed off the wire
        events = []
    return grant["session_id"], out


def verify_only(work: list[tuple[str, list[list[dict]]]], keyring: Any) -> float:
    """CPU milliseconds per batch to verify the same batches, chained, with no database."""
    started = time.process_time()
    count = 0
    for session_id, bodies in work:
        state = ChainState.start(session_id)
        keys = keyring.session_keys(session_id)
        for body in bodies:
            state = verify_batch(state, body, keys, lambda seq: None).state
            count += 1
    return (time.process_time() - started) / count * 1000


def run(url: str, home: Path, sessions: int, batches: int) -> tuple[float, float]:
    """CPU milliseconds per batch: ``batches`` groups, each one batch of every session; and
    the verification alone of the same batches."""
    settings = Settings(
        database_url=url,
        secret_file=home / "secret.key",
        limits=Limits(batches_per_minute=10_000),
        webhook_poll_seconds=None,
    )
    store = Storage(url)
    try:
        app = create_app(settings, store=store, migrate=True, purge_every=None)
        state = app.state.openproctor
        state.store.integrations.add("bench", "bench", state.keyring.encrypt(SECRET), [])
        with TestClient(app) as client:
            work = [signed_batches(client, n, batches) for n in range(sessions)]
        floor = verify_only(work, state.keyring)
        writer = state.ingest_runner
        started = time.process_time()
        for i in range(batches):
            group = [(state.ingest.batch(sid, bodies[i]), None, None) for sid, bodies in work]
            outcomes = writer._apply(group)
            failed = [r for _, _, r in outcomes if isinstance(r, BaseException)]
            if failed:
                raise RuntimeError(f"a batch failed: {failed[0]!r}")
        return (time.process_time() - started) / (sessions * batches) * 1000, floor
    finally:
        store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=40, help="batches per group")
    parser.add_argument("--batches", type=int, default=10, help="groups (batches per session)")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--skip-postgres", action="store_true")
    args = parser.parse_args()
    results: dict[str, list[float]] = {"sqlite": [], "postgresql": [], "verify_only": []}
    admin = None if args.skip_postgres else sa.create_engine(PG_URL)
    for _ in range(args.runs):
        with tempfile.TemporaryDirectory() as tmp:
            url = f"sqlite:///{tmp}/writer.sqlite3"
            writer, floor = run(url, Path(tmp), args.sessions, args.batches)
            results["sqlite"].append(writer)
            results["verify_only"].append(floor)
            if admin is None:
                continue
            schema = "bench_" + secrets.token_hex(4)
            with admin.begin() as conn:
                conn.execute(sa.text(f"CREATE SCHEMA {schema}"))
            try:
                url = f"{PG_URL}?options=-csearch_path%3D{schema}"
                results["postgresql"].append(run(url, Path(tmp), args.sessions, args.batches)[0])
            finally:
                with admin.begin() as conn:
                    conn.execute(sa.text(f"DROP SCHEMA {schema} CASCADE"))
    summary = {
        name: {
            "cpu_ms_per_batch_median": round(statistics.median(v), 3),
            "runs": [round(x, 3) for x in v],
        }
        for name, v in results.items()
        if v
    }
    print(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
