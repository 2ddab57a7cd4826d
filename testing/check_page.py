"""``openproctor check-page URL``: open an integrator's exam page in headless Chromium and report
whether the SDK boots, how long ``examStarted`` and core-ready take, CSP violations, console
errors, and every request that leaves for an origin other than the page's and the server's.

Exit codes: 0 the SDK started and nothing was found; 1 a problem was found (the report says
which); 2 the page could not be checked (bad arguments, no browser, the page did not load).
"""

from __future__ import annotations

import json
import time
import urllib.parse
from dataclasses import asdict, dataclass, field
from typing import Any

OK, PROBLEMS, NOT_CHECKED = 0, 1, 2

#: Watches the SDK's state events and the page's CSP reports from the first byte.
_WATCH = """(() => {
  const seen = window.__openproctorCheck = {states: [], csp: [], t0: performance.timeOrigin};
  window.addEventListener("openproctor:state", (e) => {
    const s = e.detail || {};
    seen.states.push({at: performance.now(), ready: !!s.ready, started: !!s.started,
                      error: s.error || null, bootMs: s.bootMs || null});
  });
  document.addEventListener("securitypolicyviolation", (e) => {
    seen.csp.push({directive: e.effectiveDirective || e.violatedDirective,
                   blocked: e.blockedURI, source: e.sourceFile || ""});
  });
})();"""


@dataclass
class Report:
    url: str
    loader_found: bool = False
    #: The SDK panel asked for consent (check-page clicked "I agree", as a student would).
    consent_asked: bool = False
    started_ms: float | None = None
    ready_ms: float | None = None
    boot_ms: float | None = None
    sdk_error: str | None = None
    csp_violations: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)
    foreign_requests: list[str] = field(default_factory=list)
    servers: list[str] = field(default_factory=list)
    requests: int = 0

    @property
    def problems(self) -> list[str]:
        found = []
        if not self.loader_found:
            found.append("the page did not load the openproctor loader (no window.openproctor)")
        elif self.sdk_error:
            found.append(f"the SDK reported an error: {self.sdk_error}")
        elif self.started_ms is None:
            found.append("examStarted was not reached (is a session started on this page?)")
        elif self.ready_ms is None:
            found.append("the core did not become ready in the time allowed (--timeout)")
        found += [f"CSP violation: {v}" for v in self.csp_violations]
        found += [f"console error: {e}" for e in self.console_errors]
        found += [f"request to another origin: {r}" for r in self.foreign_requests]
        return found

    def text(self) -> str:
        def ms(value: float | None) -> str:
            return "not reached" if value is None else f"{value:,.0f} ms after navigation"

        lines = [
            f"openproctor check-page {self.url}",
            f"  loader found:     {'yes' if self.loader_found else 'no'}",
            f"  notice:           {'agreed (consent required)' if self.consent_asked else 'none'}",
            f"  examStarted:      {ms(self.started_ms)}",
            f"  core ready:       {ms(self.ready_ms)}"
            + (f" (boot {self.boot_ms:,.0f} ms)" if self.boot_ms else ""),
            f"  requests:         {self.requests} (servers: {', '.join(self.servers) or '-'})",
        ]
        problems = self.problems
        lines.append(f"  problems:         {len(problems)}")
        lines += [f"    - {p}" for p in problems]
        lines.append("OK" if not problems else "PROBLEMS FOUND")
        return "\n".join(lines)


def check_page(
    url: str,
    server: str | None = None,
    click: str | None = None,
    timeout: float = 60.0,
    chromium: str | None = None,
) -> Report:
    """Open ``url``, optionally click ``click`` (the page's start button), and watch until the
    core is ready (``examStarted`` comes first), an error, or ``timeout`` seconds. ``server`` is
    the openproctor server's origin; by default, where the page loads ``/sdk/v1/loader.js``."""
    from playwright.sync_api import Error as PlaywrightError
    from playwright.sync_api import sync_playwright

    from .browsers import QUIET_CHROMIUM, chromium_path
    from .network import origin_of

    report = Report(url)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=chromium_path(playwright, chromium), args=list(QUIET_CHROMIUM)
        )
        try:
            context = browser.new_context()
            requests: list[str] = []
            context.on("request", lambda r: requests.append(r.url))
            page = context.new_page()
            page.add_init_script(_WATCH)
            page.on(
                "console",
                lambda m: report.console_errors.append(m.text) if m.type == "error" else None,
            )
            page.on("pageerror", lambda e: report.console_errors.append(f"uncaught: {e}"))
            try:
                page.goto(url, wait_until="load", timeout=timeout * 1000)
            except PlaywrightError as exc:
                raise PageNotChecked(f"the page did not load: {exc.message}") from None
            report.loader_found = bool(page.evaluate("() => !!window.openproctor"))
            if click is not None and report.loader_found:
                try:
                    page.click(click, timeout=10_000)
                except PlaywrightError as exc:
                    raise PageNotChecked(f"cannot click {click!r}: {exc.message}") from None
            deadline = time.monotonic() + timeout
            agree = page.locator("[data-openproctor-panel] button[data-action=agree]")
            while report.loader_found and time.monotonic() < deadline:
                seen = page.evaluate("() => window.__openproctorCheck")
                _read_states(report, seen["states"])
                if report.started_ms is None and agree.count():  # the notice: agree, as a student
                    report.consent_asked = True
                    agree.click()
                if report.ready_ms is not None or report.sdk_error:
                    break
                time.sleep(0.1)
            time.sleep(0.5)  # late CSP reports and the first upload
            seen = page.evaluate("() => window.__openproctorCheck")
            _read_states(report, seen["states"])
            report.csp_violations = [
                f"{v['directive']} blocked {v['blocked'] or 'inline code'}"
                + (f" ({v['source']})" if v["source"] else "")
                for v in seen["csp"]
            ]
        finally:
            browser.close()
    loaders = [r for r in requests if urllib.parse.urlsplit(r).path.endswith("/sdk/v1/loader.js")]
    servers = {origin_of(server)} if server else {origin_of(r) for r in loaders}
    allowed = {origin_of(url), *servers}
    report.servers = sorted(servers)
    report.requests = len([r for r in requests if not r.startswith(("data:", "blob:"))])
    report.foreign_requests = sorted(
        {
            r
            for r in requests
            if not r.startswith(("data:", "blob:", "about:")) and origin_of(r) not in allowed
        }
    )
    return report


def _read_states(report: Report, states: list[dict[str, Any]]) -> None:
    for state in states:
        if state["error"] and report.sdk_error is None:
            report.sdk_error = state["error"]
        if state["ready"] and report.ready_ms is None:
            report.ready_ms, report.boot_ms = state["at"], state["bootMs"]
        if state["started"] and report.started_ms is None:
            report.started_ms = state["at"]


class PageNotChecked(Exception):
    """The page could not be checked at all (exit code 2)."""


def main(args: Any) -> int:
    """The CLI entry (server/cli wires the arguments)."""
    from .browsers import BrowserNotFound

    try:
        report = check_page(args.url, args.server, args.click, args.timeout, args.chromium)
    except (PageNotChecked, BrowserNotFound) as exc:
        print(f"error: {exc}")
        return NOT_CHECKED
    print(
        json.dumps(asdict(report) | {"problems": report.problems}) if args.json else report.text()
    )
    return OK if not report.problems else PROBLEMS
