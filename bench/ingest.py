"""Ingest throughput: many concurrent sessions posting signed batches (50 events by default) to
a real server process on 127.0.0.1, for SQLite and PostgreSQL, and a bare Starlette echo
endpoint as the ceiling, all in one run. Bounded: a fixed number of batches, a time limit, then
it stops.

With ``--pin`` the load generator runs on the last CPU and the server processes on CPU 0
(``taskset``), so what the server does is not shared with the client: the scaling run reports
events per server CPU-second for one and two PostgreSQL processes, and PostgreSQL's own CPU.

Run: .venv/bin/python bench/ingest.py [--sessions 100] [--batches 20] [--concurrency 32] [--pin]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import httpx2 as httpx
import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from openproctor.core import Signer
from openproctor.server.security.tokens import mint_start_token
from tests.support import ENVIRONMENT, free_port

SECRET = "bench-ingest-secret-" + "0123456789abcdef" * 3
PG_URL = "postgresql+psycopg://root@127.0.0.1:5432/test"
TIME_LIMIT = 300.0


def wait_up(url: str, process: subprocess.Popen) -> None:
    for _ in range(300):
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.TransportError:
            if process.poll() is not None:
                raise RuntimeError("server exited") from None
            time.sleep(0.1)
    raise RuntimeError("server did not start")


def start_openproctor(
    database_url: str, home: Path, workers: int, pin: bool
) -> tuple[subprocess.Popen, str]:
    env = {
        **os.environ,
        "OPENPROCTOR_DATABASE_URL": database_url,
        "OPENPROCTOR_SECRET_FILE": str(home / "secret.key"),
    }
    cli = [sys.executable, "-m", "openproctor.server.cli"]
    subprocess.run(
        [*cli, "integration", "add", "bench", "--institution", "bench", "--secret", SECRET],
        env=env,
        check=True,
        capture_output=True,
    )
    port = free_port()
    process = subprocess.Popen(
        [
            *(["taskset", "-c", "0"] if pin else []),
            *cli,
            *("serve", "--port", str(port), "--workers", str(workers), "--log-level", "warning"),
            *("--public-origin", f"http://127.0.0.1:{port}"),
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    wait_up(base + "/healthz", process)
    return process, base


def start_echo() -> tuple[subprocess.Popen, str]:
    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "echo_app:app",
            "--port",
            str(port),
            "--log-level",
            "warning",
            "--app-dir",
            str(Path(__file__).parent),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    wait_up(base + "/", process)
    return process, base


def prepare(
    base: str, sessions: int, batches: int, per_batch: int
) -> list[tuple[str, str, list[bytes]]]:
    """Start the sessions and sign every batch up front (the client's cost is not timed)."""
    work = []
    with httpx.Client(base_url=base, timeout=30) as http:
        for n in range(sessions):
            jwt = mint_start_token(
                SECRET, user_id=f"u{n}", exam_id="bench", session_id=f"s{n}-{secrets.token_hex(4)}"
            )
            grant = http.post(
                "/api/v1/sessions", json={"integrationName": "bench", "jwt": jwt}
            ).json()
            signer = Signer(bytes.fromhex(grant["signing_key"]), grant["session_id"])
            events = [
                signer.sign(
                    0,
                    "session_start",
                    {"sdk_version": "0.1.0", **ENVIRONMENT, "heartbeat_ms": 15000},
                )
            ]
            t = 0
            bodies = []
            for _ in range(batches):
                while len(events) < per_batch:
                    t += 300
                    kind = "heartbeat" if t % 3000 else "focus_loss"  # one event in ten
                    data = {} if kind == "heartbeat" else {"duration_ms": 250, "count": 1}
                    events.append(signer.sign(t, kind, data))
                bodies.append(json.dumps({"events": [e.to_dict() for e in events]}).encode())
                events = []
            work.append((grant["session_id"], grant["token"], bodies))
    return work


async def drive(
    base: str, work: list, concurrency: int, per_batch: int, path: str | None = None
) -> dict:
    latencies: list[float] = []
    errors = 0
    queue: asyncio.Queue = asyncio.Queue()
    for item in work:
        queue.put_nowait(item)
    deadline = time.monotonic() + TIME_LIMIT

    async def worker(http: httpx.AsyncClient) -> None:
        nonlocal errors
        while not queue.empty() and time.monotonic() < deadline:
            session_id, token, bodies = queue.get_nowait()
            url = path or f"/api/v1/sessions/{session_id}/events"
            for body in bodies:  # one session's batches in order, like a real client
                started = time.perf_counter()
                response = await http.post(
                    url,
                    content=body,
                    headers={
                        "content-type": "application/json",
                        "authorization": f"Bearer {token}",
                    },
                )
                latencies.append(time.perf_counter() - started)
                if response.status_code != 200:
                    errors += 1

    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=base, timeout=30, limits=limits) as http:
        started = time.perf_counter()
        await asyncio.gather(*(worker(http) for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    requests = len(latencies)
    latencies.sort()
    return {
        "requests": requests,
        "events": requests * per_batch,
        "seconds": round(elapsed, 2),
        "requests_per_s": round(requests / elapsed),
        "events_per_s": round(requests * per_batch / elapsed),
        "p50_ms": round(statistics.median(latencies) * 1000, 1),
        "p99_ms": round(latencies[int(len(latencies) * 0.99) - 1] * 1000, 1),
        "errors": errors,
    }


def cpu_seconds(pid: int, children: bool = True) -> float:
    """CPU time (user + system) of a process and every process below it (uvicorn workers)."""
    ticks = os.sysconf("SC_CLK_TCK")
    below: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir() if children else ():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            below.setdefault(int(fields[1]), []).append(int(entry.name))
    total, todo = 0.0, [pid]
    while todo:
        current = todo.pop()
        try:
            fields = Path(f"/proc/{current}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / ticks
        if children:
            todo += below.get(current, [])
    return total


def postgres_cpu_seconds() -> float:
    """CPU time of every PostgreSQL process on this machine (read from /proc)."""
    total = 0.0
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip() == "postgres":
                    total += cpu_seconds(int(entry.name), children=False)
            except OSError:
                continue
    return total


def measured(process: subprocess.Popen, run: Callable[[], dict]) -> dict:
    """Run the load and add the server's, PostgreSQL's and this client's CPU per request: the
    echo is bounded by the client, so the server's cost per request is what the ratio hides."""
    server_before, client_before = cpu_seconds(process.pid), time.process_time()
    database_before = postgres_cpu_seconds()
    result = run()
    server = cpu_seconds(process.pid) - server_before
    client = time.process_time() - client_before
    database = postgres_cpu_seconds() - database_before
    result["server_cpu_ms_per_request"] = round(server / result["requests"] * 1000, 3)
    result["client_cpu_ms_per_request"] = round(client / result["requests"] * 1000, 3)
    result["postgres_cpu_ms_per_request"] = round(database / result["requests"] * 1000, 3)
    result["events_per_server_cpu_second"] = round(result["events"] / server)
    return result


def stored_events(database_url: str) -> tuple[int, int | None]:
    """Events stored, and on PostgreSQL the events table's bytes on disk (with its index)."""
    engine = sa.create_engine(database_url)
    with engine.connect() as conn:
        count = conn.execute(sa.text("SELECT count(*) FROM events")).scalar_one()
        size = None
        if engine.dialect.name == "postgresql":
            size = conn.execute(sa.text("SELECT pg_total_relation_size('events')")).scalar_one()
    engine.dispose()
    return int(count), size


def run_backend(name: str, database_url: str, workers: int, args: argparse.Namespace) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        process, base = start_openproctor(database_url, Path(tmp), workers, args.pin)
        try:
            before = cpu_seconds(process.pid)
            work = prepare(base, args.sessions, args.batches, args.events)
            starting = cpu_seconds(process.pid) - before  # and the client signing, untimed
            result = measured(
                process, lambda: asyncio.run(drive(base, work, args.concurrency, args.events))
            )
        finally:
            process.terminate()
            process.wait(20)
        result["server_cpu_ms_per_session_start"] = round(starting / args.sessions * 1000, 2)
        result["stored_events"], size = stored_events(database_url)
        if size is not None:
            result["postgres_bytes_per_event"] = round(size / result["stored_events"])
        result["server_processes"] = workers
        return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=100)
    parser.add_argument("--batches", type=int, default=20, help="batches per session")
    parser.add_argument("--events", type=int, default=50, help="events per batch (1 to 500)")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--skip-postgres", action="store_true")
    parser.add_argument(
        "--pin", action="store_true", help="client on the last CPU, servers on CPU 0 (taskset)"
    )
    args = parser.parse_args()
    if args.pin:
        os.sched_setaffinity(0, {max(os.sched_getaffinity(0))})
    results: dict = {
        "sessions": args.sessions,
        "batches_per_session": args.batches,
        "events_per_batch": args.events,
        "concurrency": args.concurrency,
        "pinned": args.pin,
    }

    echo, base = start_echo()
    try:
        pads = [{"seq": i, "pad": "x" * 180} for i in range(args.events)]
        body = json.dumps({"events": pads}).encode()
        work = [("echo", "none", [body] * args.batches) for _ in range(args.sessions)]
        results["echo"] = measured(
            echo,
            lambda: asyncio.run(drive(base, work, args.concurrency, args.events, path="/echo")),
        )
    finally:
        echo.terminate()
        echo.wait(10)

    with tempfile.TemporaryDirectory() as tmp:
        results["sqlite"] = run_backend("sqlite", f"sqlite:///{tmp}/ingest.sqlite3", 1, args)

    if not args.skip_postgres:
        schema = "bench_" + secrets.token_hex(4)
        admin = sa.create_engine(PG_URL)
        with admin.begin() as conn:
            conn.execute(sa.text(f"CREATE SCHEMA {schema}"))
        try:
            url = f"{PG_URL}?options=-csearch_path%3D{schema}"
            results["postgresql_1_process"] = run_backend("pg", url, 1, args)
            with admin.begin() as conn:
                conn.execute(sa.text(f"DROP SCHEMA {schema} CASCADE"))
                conn.execute(sa.text(f"CREATE SCHEMA {schema}"))
            results["postgresql_2_processes"] = run_backend("pg2", url, 2, args)
        finally:
            with admin.begin() as conn:
                conn.execute(sa.text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
            admin.dispose()
    sqlite_rate = results["sqlite"]["requests_per_s"]
    results["sqlite_vs_echo_request_rate"] = round(
        sqlite_rate / results["echo"]["requests_per_s"], 2
    )
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
