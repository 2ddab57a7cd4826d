"""The README's first command and the operator's wheel, checked the way a newcomer meets them:
the project's wheel installed into a fresh virtual environment **without extras**, then
``openproctor serve --demo`` from that environment (no Node, no npm, no checkout on PATH or in
the working directory) and the demo exam taken over HTTP.

A runtime import that only a dev extra provides (httpx2 was one) fails here, as it did for the
first user who ran ``./dev demo``.
"""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path

import httpx2 as httpx
import pytest

from openproctor.core import Signer

from ...support import ENVIRONMENT, free_port, stop, wait_healthy

ROOT = Path(__file__).resolve().parents[3]
BUNDLE = ROOT / "build" / "sdk"

# Every module of the server, imported in the plain environment: the CLI imports some lazily.
IMPORT_ALL = """
import importlib, pkgutil, openproctor.server as server
for module in pkgutil.walk_packages(server.__path__, "openproctor.server."):
    if ".migrations" not in module.name:
        importlib.import_module(module.name)
print("imported")
"""


def _run(command: list[str], **kwargs) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(command, capture_output=True, text=True, timeout=600, **kwargs)
    assert done.returncode == 0, f"{command} failed:\n{done.stdout}\n{done.stderr}"
    return done


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not (BUNDLE / "manifest.json").is_file():
        pytest.fail("the SDK bundle is not built: run python build.py (./dev test does)")
    out = tmp_path_factory.mktemp("dist")
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out), str(ROOT)])
    (built,) = out.glob("openproctor-*.whl")
    return built


@pytest.fixture(scope="module")
def plain_env(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A new virtual environment with only the wheel and its runtime dependencies."""
    venv = tmp_path_factory.mktemp("plain") / "venv"
    _run([sys.executable, "-m", "venv", str(venv)])
    _run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "--no-compile", str(wheel)])
    return venv


@pytest.fixture(scope="module")
def demo_server(plain_env: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    home = tmp_path_factory.mktemp("operator")  # no build/ folder here: the wheel's bundle
    port = free_port()
    env = {"PATH": str(plain_env / "bin"), "HOME": str(home), "LANG": "C.UTF-8"}
    log = home / "server.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [str(plain_env / "bin" / "openproctor"), "serve", "--demo", "--port", str(port)],
            cwd=home,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(base, process, log, timeout=60)
        yield base
    finally:
        stop(process)


def test_the_wheel_carries_the_sdk_bundle(wheel: Path):
    manifest = json.loads((BUNDLE / "manifest.json").read_text())
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
    for name in [*manifest["files"], "manifest.json"]:
        assert f"openproctor/server/bundle/{name}" in names, name
    assert not any(n.startswith(("tests/", "bench/")) for n in names)


def test_every_server_module_imports_without_extras(plain_env: Path, tmp_path: Path):
    done = _run(
        [str(plain_env / "bin" / "python"), "-c", IMPORT_ALL],
        cwd=tmp_path,
        env={"PATH": str(plain_env / "bin")},
    )
    assert done.stdout.strip() == "imported"


def test_check_page_without_the_testing_extra_says_what_to_install(plain_env: Path, tmp_path):
    done = subprocess.run(
        [str(plain_env / "bin" / "openproctor"), "check-page", "http://127.0.0.1:9/"],
        cwd=tmp_path,
        env={"PATH": str(plain_env / "bin")},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "pip install 'openproctor[testing]'" in done.stdout


def test_the_demo_exam_runs_from_a_plain_install(demo_server: str):
    with httpx.Client(base_url=demo_server, timeout=30) as http:
        page = http.get("/demo")
        assert page.status_code == 200 and "loader.js" in page.text
        loader = http.get("/sdk/v1/loader.js")
        assert loader.status_code == 200 and "openproctor" in loader.text
        manifest = http.get("/sdk/v1/manifest.json").json()
        wasm = http.get(
            "/sdk/v1/" + manifest["assets"]["runtime"] + "pyodide.asm.wasm",
            headers={"accept-encoding": "gzip"},
        )
        assert wasm.status_code == 200 and wasm.content[:4] == b"\0asm"

        lms = http.post("/demo/lms/start").json()  # the fake LMS backend signs the JWT
        started = http.post("/api/v1/sessions", json=lms)
        assert started.status_code == 201, started.text
        grant = started.json()
        signer = Signer(bytes.fromhex(grant["signing_key"]), grant["session_id"])
        opening = {"sdk_version": "0.1.0", **ENVIRONMENT, "heartbeat_ms": 15000}
        events = [
            signer.sign(0, "session_start", opening),
            signer.sign(15000, "heartbeat", {}),
            signer.sign(16000, "tab_switch", {"duration_ms": 4000, "count": 1}),
        ]
        events.append(signer.sign(17000, "session_end", {"count": 3, "reason": "finished"}))
        auth = {"authorization": f"Bearer {grant['token']}"}
        url = f"/api/v1/sessions/{grant['session_id']}"
        stored = http.post(
            url + "/events", json={"events": [e.to_dict() for e in events]}, headers=auth
        )
        assert stored.status_code == 200, stored.text
        assert stored.json()["complete"] is True
        finished = http.post(url + "/finish", headers=auth)
        assert finished.status_code == 200 and finished.json()["status"] == "finished"

        record = http.get(grant["record_url"])
        assert record.status_code == 200
        assert "tab switch" in record.text.lower()
        bundle = http.get(grant["record_url"].replace("?", "/evidence.json?", 1))
        assert bundle.status_code == 200 and len(bundle.json()["events"]) == 4


def test_nothing_from_the_checkout_leaks_into_the_plain_environment(plain_env: Path):
    done = _run(
        [
            str(plain_env / "bin" / "python"),
            "-c",
            "import openproctor.server as s; print(s.__file__)",
        ],
        cwd="/",
        env={"PATH": str(plain_env / "bin")},
    )
    assert str(plain_env) in done.stdout and str(ROOT) not in done.stdout


# -- the test kit: last in this file, because it adds the testing extra to the plain environment


def docs_example() -> str:
    """The example test file of docs/testing-your-integration.md: the code block after the
    comment that names this test."""
    text = (ROOT / "docs" / "testing-your-integration.md").read_text()
    marker = (
        "<!-- the example: tests/unit/server/test_plain_install.py runs the next code block -->"
    )
    after = text.split(marker, 1)[1]
    assert after.lstrip().startswith("```python\n"), "the example's code block moved"
    return after.split("```python\n", 1)[1].split("\n```\n", 1)[0] + "\n"


@pytest.fixture(scope="module")
def testing_env(plain_env: Path, wheel: Path) -> Path:
    """The plain environment with ``openproctor[testing]`` installed from the same wheel, as a
    QA engineer installs it (pytest, Playwright and pytest-playwright come with it)."""
    _run(
        [
            str(plain_env / "bin" / "python"),
            "-m",
            "pip",
            "install",
            "-q",
            "--no-compile",
            f"{wheel}[testing]",
        ]
    )
    return plain_env


def test_the_testing_kit_installs_from_the_wheel_and_runs_the_docs_example(
    testing_env: Path, tmp_path: Path
):
    (tmp_path / "test_exam_proctoring.py").write_text(docs_example())
    done = subprocess.run(
        [str(testing_env / "bin" / "python"), "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=tmp_path,  # no checkout here: the server serves the wheel's bundle
        env={"PATH": f"{testing_env / 'bin'}:/usr/bin:/bin", "HOME": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "3 passed" in done.stdout, done.stdout
