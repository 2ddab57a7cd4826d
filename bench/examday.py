"""Exam day: N students start within a minute and heartbeat every 15 s for the exam, then
finish; a few real Chromium pages run the real SDK alongside. Reports sessions/s started,
events/s ingested, latency, errors, lost events, and the server's CPU and memory. SQLite with one
server process, PostgreSQL with two. Localhost only, bounded in count and time.

The students are split over ``--clients`` load-generator processes (2 by default).

Run: .venv/bin/python bench/examday.py [--students 2000] [--exam-seconds 120] [--clients 2]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import random
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
import jwt as pyjwt
import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from openproctor.core import Signer
from tests.browser.engines import QUIET
from tests.support import ENVIRONMENT, free_port, wait_healthy

SECRET = "examday-secret-" + "0123456789abcdef" * 3
PG_URL = "postgresql+psycopg://root@127.0.0.1:5432/test"
HEARTBEAT_S = 15


def process_tree(pid: int) -> list[int]:
    children = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout
    return [pid] + [p for c in children.split() for p in process_tree(int(c))]


def usage(pid: int) -> tuple[float, int]:
    """CPU seconds and resident bytes of a process and its children (from /proc)."""
    ticks = os.sysconf("SC_CLK_TCK")
    cpu, rss = 0.0, 0
    for p in process_tree(pid):
        try:
            stat = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            cpu += (int(stat[11]) + int(stat[12])) / ticks
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    rss += int(line.split()[1]) * 1024
        except (FileNotFoundError, ProcessLookupError, IndexError):
            pass
    return cpu, rss


def token(n: int) -> str:
    now = int(time.time())
    start = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now - 60))
    end = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now + 3 * 3600))
    return pyjwt.encode(
        {
            "userId": f"student-{n}",
            "accountId": "uni",
            "accountName": "Exam University",
            "examId": "examday",
            "examName": "Exam day",
            "duration": 120,
            "schedule": False,
            "proctoring": "offline",
            "startDate": start,
            "endDate": end,
            "sessionId": f"attempt-{n}-{secrets.token_hex(3)}",
        },
        SECRET,
        algorithm="HS256",
    )


class Student:
    def __init__(self, grant: dict) -> None:
        self.id = grant["session_id"]
        self.auth = {"authorization": f"Bearer {grant['token']}"}
        self.signer = Signer(bytes.fromhex(grant["signing_key"]), self.id)
        self.t = 0
        self.sent = 0

    def batch(self, kind: str = "heartbeat") -> bytes:
        events = []
        if self.signer.state.next_seq == 0:
            events.append(
                self.signer.sign(
                    0,
                    "session_start",
                    {"sdk_version": "0.1.0", **ENVIRONMENT, "heartbeat_ms": HEARTBEAT_S * 1000},
                )
            )
        self.t += HEARTBEAT_S * 1000
        if random.random() < 0.05:  # now and then a student looks away
            events.append(
                self.signer.sign(self.t - 3000, "focus_loss", {"duration_ms": 2500, "count": 1})
            )
        data = (
            {"count": self.signer.state.next_seq, "reason": "finished"}
            if kind == "session_end"
            else {}
        )
        events.append(self.signer.sign(self.t, kind, data))
        return json.dumps({"events": [e.to_dict() for e in events]}).encode()


async def exam(base: str, students: range, cohort: int, exam_seconds: float, browsers: int) -> dict:
    """One load generator's share (``students``, numbered within the ``cohort``), which starts
    spread over the same minute as every other generator's."""
    # aiohttp, not httpx: with sparse requests httpx cost the generator about 2 ms of CPU each,
    # more than the server spends, and the generator's queueing was counted as latency.
    #: (seconds since the exam began, seconds it took, whether it was the session_end batch)
    latencies: list[tuple[float, float, bool]] = []
    errors: dict[str, int] = {}
    connector = aiohttp.TCPConnector(limit=64)
    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(base, connector=connector, timeout=timeout) as http:
        # Everyone starts within one minute (spread evenly, as a cohort clicking "start").
        started_at = time.perf_counter()
        gate = asyncio.Semaphore(100)

        async def begin(n: int) -> Student | None:
            await asyncio.sleep(n * 60 / cohort)
            start = {"integrationName": "examday", "jwt": token(n)}
            async with gate, http.post("/api/v1/sessions", json=start) as response:
                answer = await response.json()
                if response.status not in (200, 201):
                    code = f"start {response.status} {answer['error']['code']}"
                    errors[code] = errors.get(code, 0) + 1
                    return None
            return Student(answer)

        roster = [s for s in await asyncio.gather(*(begin(n) for n in students)) if s]
        start_seconds = time.perf_counter() - started_at
        exam_started = time.perf_counter()

        async def take(student: Student) -> None:
            await asyncio.sleep(random.uniform(0, HEARTBEAT_S))
            beats = max(1, int(exam_seconds // HEARTBEAT_S))
            for beat in range(beats + 1):
                final = beat == beats
                body = student.batch("session_end" if final else "heartbeat")
                sent = time.perf_counter()
                for _ in range(5):  # retry with backoff, as the SDK does
                    try:
                        async with http.post(
                            f"/api/v1/sessions/{student.id}/events",
                            data=body,
                            headers={**student.auth, "content-type": "application/json"},
                        ) as response:
                            answer = await response.json()
                        if response.status == 200:
                            break
                        code = f"{response.status} {answer['error']['code']}"
                        errors[code] = errors.get(code, 0) + 1
                    except aiohttp.ClientError as exc:
                        errors[type(exc).__name__] = errors.get(type(exc).__name__, 0) + 1
                    await asyncio.sleep(1)
                latencies.append((sent - exam_started, time.perf_counter() - sent, final))
                student.sent = student.signer.state.next_seq
                if not final:
                    await asyncio.sleep(HEARTBEAT_S)

        pages = (
            asyncio.create_task(asyncio.to_thread(real_pages, base, browsers, exam_seconds))
            if browsers
            else None
        )
        await asyncio.gather(*(take(s) for s in roster))
        exam_elapsed = time.perf_counter() - exam_started
        page_result = await pages if pages else None
    return {
        "client_cpu_seconds": time.process_time(),
        "students_started": len(roster),
        "start_seconds": start_seconds,
        "exam_seconds": exam_elapsed,
        "latencies": latencies,
        "errors": errors,
        "browser_pages": page_result,
        "expected": {s.id: s.sent for s in roster},
    }


def generate(job: tuple[str, range, int, float, int]) -> dict:
    """One load-generator process (a Pool worker)."""
    base, students, cohort, exam_seconds, browsers = job
    return asyncio.run(
        asyncio.wait_for(
            exam(base, students, cohort, exam_seconds, browsers), timeout=exam_seconds + 600
        )
    )


def p99_ms(values: list[float]) -> float:
    ordered = sorted(values)
    return round(ordered[max(0, int(len(ordered) * 0.99) - 1)] * 1000, 1)


def phases(samples: list[tuple[float, float, bool]]) -> dict:
    """Where the tail is: p99 of the heartbeats and of the closing batches apart, and of each
    heartbeat interval of the exam (by when the batch was sent)."""
    windows: dict[int, list[float]] = {}
    for at, took, _ in samples:
        windows.setdefault(int(at // HEARTBEAT_S), []).append(took)
    return {
        "p99_ms_heartbeats": p99_ms([took for _, took, end in samples if not end]),
        "p99_ms_session_end": p99_ms([took for _, took, end in samples if end]),
        "p99_ms_per_interval": [p99_ms(windows[k]) for k in sorted(windows)],
    }


def load(base: str, args: argparse.Namespace) -> dict:
    """The cohort split over ``--clients`` processes (one asyncio client saturates its core
    long before the server does: its queueing would be counted as the server's latency)."""
    shares = [range(k, args.students, args.clients) for k in range(args.clients)]
    jobs = [
        (base, share, args.students, args.exam_seconds, args.browsers if k == 0 else 0)
        for k, share in enumerate(shares)
    ]
    with multiprocessing.get_context("spawn").Pool(args.clients) as pool:
        parts = pool.map(generate, jobs)
    samples = [tuple(x) for part in parts for x in part["latencies"]]
    latencies = sorted(took for _, took, _ in samples)
    errors: dict[str, int] = {}
    for part in parts:
        for code, count in part["errors"].items():
            errors[code] = errors.get(code, 0) + count
    started = sum(part["students_started"] for part in parts)
    start_seconds = max(part["start_seconds"] for part in parts)
    exam_seconds = max(part["exam_seconds"] for part in parts)
    expected = {sid: n for part in parts for sid, n in part["expected"].items()}
    events = sum(expected.values())
    return {
        "load_generator_processes": args.clients,
        "load_generator_cpu_seconds": round(sum(part["client_cpu_seconds"] for part in parts), 1),
        "students_started": started,
        "start_seconds": round(start_seconds, 1),
        "sessions_per_s": round(started / start_seconds, 1),
        "exam_seconds": round(exam_seconds, 1),
        "batches": len(latencies),
        "events_sent": events,
        "events_per_s": round(events / exam_seconds),
        "p50_ms": round(statistics.median(latencies) * 1000, 1),
        "p99_ms": round(latencies[int(len(latencies) * 0.99) - 1] * 1000, 1),
        **phases(samples),
        "errors": errors,
        "browser_pages": parts[0]["browser_pages"],
        "expected": expected,
    }


def real_pages(base: str, count: int, exam_seconds: float) -> dict:
    """A few real Chromium pages take the demo exam with the real SDK at the same time; each
    reports how long after its click the core was ready (the page says "Proctoring active")."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout
    from playwright.sync_api import sync_playwright

    ready_seconds: list[float] = []
    began = time.perf_counter()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=QUIET)
        pages = []
        for _ in range(count):
            page = browser.new_page()
            page.goto(f"{base}/demo")
            page.click("#start")
            pages.append((page, time.perf_counter()))
        for page, clicked in pages:
            left = max(1.0, exam_seconds - 20 - (time.perf_counter() - began))
            try:  # the notice first, as a student agrees to it
                page.locator("[data-openproctor-panel] button[data-action=agree]").click(
                    timeout=left * 1000
                )
                page.wait_for_selector('#status:has-text("Proctoring active")', timeout=left * 1000)
                ready_seconds.append(round(time.perf_counter() - clicked, 1))
            except PlaywrightTimeout:
                pass
        time.sleep(max(0.0, exam_seconds - 20 - (time.perf_counter() - began)))
        for page, _ in pages:
            page.click("#finish")
        done = 0
        for page, _ in pages:
            try:
                page.wait_for_selector("#done:not([hidden])", timeout=120000)
                done += 1
            except PlaywrightTimeout:
                pass
        browser.close()
    return {
        "ready": len(ready_seconds),
        "seconds_to_ready": ready_seconds,
        "finished_and_uploaded": done,
    }


def run(database_url: str, workers: int, args: argparse.Namespace) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        env = {
            **os.environ,
            "OPENPROCTOR_DATABASE_URL": database_url,
            "OPENPROCTOR_SECRET_FILE": f"{tmp}/secret.key",
        }
        cli = [sys.executable, "-m", "openproctor.server.cli"]
        subprocess.run(
            [*cli, "integration", "add", "examday", "--institution", "uni", "--secret", SECRET],
            env=env,
            check=True,
            capture_output=True,
        )
        port = free_port()
        server = subprocess.Popen(
            [
                *cli,
                "serve",
                "--demo",
                "--port",
                str(port),
                "--workers",
                str(workers),
                "--log-level",
                "warning",
            ],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            wait_healthy(base, server)
            cpu_before, _ = usage(server.pid)
            started = time.perf_counter()
            result = load(base, args)
            wall = time.perf_counter() - started
            cpu_after, rss = usage(server.pid)
        finally:
            server.terminate()
            server.wait(30)
        engine = sa.create_engine(database_url)
        with engine.connect() as conn:
            rows = dict(
                conn.execute(
                    sa.text("SELECT session_id, count(*) FROM events GROUP BY session_id")
                ).all()
            )
            complete = conn.execute(
                sa.text("SELECT count(*) FROM sessions WHERE complete")
            ).scalar_one()
        engine.dispose()
        expected = result.pop("expected")
        result["lost_events"] = sum(max(0, n - rows.get(sid, 0)) for sid, n in expected.items())
        result["sessions_complete"] = int(complete)
        result["server_processes"] = workers
        result["server_cpu_seconds"] = round(cpu_after - cpu_before, 1)
        result["server_cpu_share_of_2_cores"] = round((cpu_after - cpu_before) / (wall * 2), 2)
        result["server_rss_mib_at_end"] = round(rss / 2**20)
        return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=2000)
    parser.add_argument("--exam-seconds", type=float, default=120)
    parser.add_argument("--browsers", type=int, default=3)
    parser.add_argument(
        "--clients", type=int, default=2, help="load-generator processes sharing the students"
    )
    parser.add_argument("--skip-postgres", action="store_true")
    args = parser.parse_args()
    results = {
        "students": args.students,
        "exam_seconds": args.exam_seconds,
        "heartbeat_seconds": HEARTBEAT_S,
    }
    with tempfile.TemporaryDirectory() as tmp:
        results["sqlite"] = run(f"sqlite:///{tmp}/examday.sqlite3", 1, args)
    if not args.skip_postgres:
        schema = "examday_" + secrets.token_hex(4)
        admin = sa.create_engine(PG_URL)
        with admin.begin() as conn:
            conn.execute(sa.text(f"CREATE SCHEMA {schema}"))
        try:
            results["postgresql"] = run(f"{PG_URL}?options=-csearch_path%3D{schema}", 2, args)
        finally:
            with admin.begin() as conn:
                conn.execute(sa.text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
            admin.dispose()
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
