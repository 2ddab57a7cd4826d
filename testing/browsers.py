"""Browsers in which the signal helpers can produce real events.

Playwright keeps every page it creates "visible and focused" (it turns on Chromium's focus
emulation, which also keeps a page from being hidden), so a student's tab switch can never
happen in a Chromium that Playwright launched. The kit therefore starts Chromium itself, with a
DevTools port, and attaches with ``connect_over_cdp(..., no_defaults=True)``: pages of that
browser's default context have real focus and real visibility. Firefox is launched by
Playwright as usual (a second tab hides the first there); a stock Firefox binary, such as a
Linux distribution's ``firefox-esr``, is driven over WebDriver BiDi.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .processes import stop

#: Flags for a Chromium that must not reach any network of its own (updates, sync, QUIC probes).
QUIET_CHROMIUM = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)
ENGINES = ("chromium", "firefox")


class BrowserNotFound(RuntimeError):
    """No browser binary of the engine asked for: the message says how to provide one."""


def _existing(*candidates: str | None) -> str | None:
    for candidate in candidates:
        if not candidate:
            continue
        found = shutil.which(candidate) if os.sep not in candidate else candidate
        if found and Path(found).is_file():
            return found
    return None


def chromium_path(playwright: Any = None, explicit: str | None = None) -> str:
    """The Chromium to start: ``explicit``, ``$OPENPROCTOR_CHROMIUM``, Playwright's own download
    (``playwright install chromium``), then a system Chromium or Chrome on PATH."""
    own = None
    if playwright is not None:
        try:
            own = playwright.chromium.executable_path
        except Exception:  # no Playwright download: fine, look on the system
            own = None
    chosen = explicit or os.environ.get("OPENPROCTOR_CHROMIUM")
    if chosen:
        if not Path(chosen).is_file():
            raise BrowserNotFound(f"no Chromium at {chosen!r} (--openproctor-chromium)")
        return chosen
    found = _existing(own, "chromium", "chromium-browser", "google-chrome", "chrome")
    if found is None:
        raise BrowserNotFound(
            "no Chromium found: run `playwright install chromium`, install your system's "
            "chromium package, or pass --openproctor-chromium PATH"
        )
    return found


def firefox_launch_args(playwright: Any, explicit: str | None = None) -> dict[str, Any]:
    """How to launch Firefox: Playwright's own build when it is installed, else a stock
    Firefox (``explicit``, ``$OPENPROCTOR_FIREFOX``, ``firefox-esr`` or ``firefox`` on PATH)
    over WebDriver BiDi (``channel="moz-firefox"``)."""
    chosen = explicit or os.environ.get("OPENPROCTOR_FIREFOX")
    if chosen is None:
        try:
            own = playwright.firefox.executable_path
        except Exception:
            own = None
        if own and Path(own).is_file():
            return {}
        chosen = _existing("firefox-esr", "firefox")
        if chosen is None:
            raise BrowserNotFound(
                "no Firefox found: run `playwright install firefox`, install your system's "
                "firefox-esr or firefox package, or pass --openproctor-firefox PATH"
            )
    if not Path(chosen).is_file():
        raise BrowserNotFound(f"no Firefox at {chosen!r} (--openproctor-firefox)")
    return {"channel": "moz-firefox", "executable_path": chosen}


@dataclass
class StartedChromium:
    """A Chromium process the kit started, and the Playwright browser attached to it."""

    process: subprocess.Popen[bytes]
    profile: Path
    browser: Any
    _closed: bool = field(default=False, repr=False)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        # The process may already be gone; it is stopped below either way.
        with contextlib.suppress(Exception):
            self.browser.close()
        stop(self.process)
        shutil.rmtree(self.profile, ignore_errors=True)


def start_chromium(
    playwright: Any,
    executable: str | None = None,
    headless: bool = True,
    timeout: float = 30.0,
    extra_args: tuple[str, ...] = (),
) -> StartedChromium:
    """Start Chromium with a DevTools port on a fresh profile and attach Playwright to it
    without its defaults (so focus and visibility are real). Use ``.browser.contexts[0]``."""
    path = chromium_path(playwright, executable)
    profile = Path(tempfile.mkdtemp(prefix="openproctor-chromium-"))
    command = [
        path,
        "--remote-debugging-port=0",
        "--remote-debugging-address=127.0.0.1",
        f"--user-data-dir={profile}",
        *QUIET_CHROMIUM,
        *(["--headless=new"] if headless else []),
        *extra_args,
        "about:blank",
    ]
    process = subprocess.Popen(  # noqa: S603 - the kit's own command line
        command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    # Chromium writes the port it chose (and the browser target's path) into the profile.
    port_file = profile / "DevToolsActivePort"
    deadline = time.monotonic() + timeout
    while True:
        lines = port_file.read_text().split() if port_file.exists() else []
        if len(lines) >= 2:
            break
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            process.wait()
            shutil.rmtree(profile, ignore_errors=True)
            raise BrowserNotFound(f"{path} did not start (exit code {process.returncode})")
        time.sleep(0.05)
    endpoint = f"ws://127.0.0.1:{lines[0]}{lines[1]}"
    try:
        browser = playwright.chromium.connect_over_cdp(endpoint, no_defaults=True)
    except Exception:
        process.kill()
        process.wait()
        shutil.rmtree(profile, ignore_errors=True)
        raise
    return StartedChromium(process, profile, browser)


def engine_of(page: Any) -> str:
    """``chromium``, ``firefox`` or ``webkit``: the engine a Playwright page runs in."""
    browser = page.context.browser
    if browser is not None:
        return str(browser.browser_type.name)
    agent = str(page.evaluate("() => navigator.userAgent"))
    if "Firefox/" in agent:
        return "firefox"
    return "chromium" if "Chrome/" in agent else "webkit"
