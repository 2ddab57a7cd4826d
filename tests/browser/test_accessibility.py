"""Accessibility proven, not claimed (issue 17): axe-core (pinned in wasm/tools, installed by the
build) over every state of the SDK panel, the student's record page, the LTI student pages and
every dashboard page, in Chromium and Firefox: no serious or critical violation of the WCAG 2.2
AA rules. And a whole exam taken with the keyboard only (docs/accessibility.md)."""

from __future__ import annotations

import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from openproctor.core import parse_policy
from openproctor.server.security.tokens import mint_start_token
from openproctor.wasm.minify import axe_core

from .conftest import SECRET
from .test_dashboard import add_account, flagged, sign_in  # noqa: F401 (flagged: a fixture)

ROOT = Path(__file__).resolve().parents[2]
WCAG = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]
RUN = """async (tags) => {
  const found = await axe.run(document, {runOnly: {type: "tag", values: tags},
                                        resultTypes: ["violations"]});
  return found.violations.filter(v => v.impact === "serious" || v.impact === "critical")
    .map(v => v.id + " (" + v.impact + "): " + v.help + " at " +
         v.nodes.slice(0, 3).map(n => n.target.join(" > ")).join(", "));
}"""
PANEL = "document.querySelector('[data-openproctor-panel]').shadowRoot"


@pytest.fixture(scope="session")
def axe_source() -> str:
    return axe_core(ROOT / "build" / "cache").read_text()


@pytest.fixture(params=["chromium", "firefox"])
def a11y_page(request, browser, axe_source) -> Iterator[Any]:
    """A page in a fresh context, with axe-core loaded into every document it opens."""
    chosen = browser if request.param == "chromium" else request.getfixturevalue("firefox_browser")
    context = chosen.new_context()
    context.add_init_script(axe_source)
    page = context.new_page()
    page.set_default_timeout(30_000)
    yield page
    context.close()


def audit(page, what: str) -> None:
    problems = page.evaluate(RUN, WCAG)
    assert problems == [], f"{what}: " + "; ".join(problems)


def exam(live_server, exam_id: str, **fields: Any) -> None:
    store = live_server.store()
    try:
        if store.policies.current("uni-a", exam_id) is None:
            store.policies.save("uni-a", parse_policy({"exam_id": exam_id, **fields}), "tests")
    finally:
        store.close()


def open_exam(page, live_server, exam_host: str, exam_id: str, session_id: str) -> None:
    jwt = mint_start_token(SECRET, user_id="student-a11y", exam_id=exam_id, session_id=session_id)
    query = urllib.parse.urlencode({"server": live_server.base, "jwt": jwt})
    page.goto(f"{exam_host}/exam?{query}")
    page.click("#start")


def test_every_state_of_the_panel(a11y_page, live_server, exam_host):
    page = a11y_page
    exam(live_server, "a11y-panel", breaks={"count": 2, "max_minutes": 5}, prevent=["copy"])
    open_exam(page, live_server, exam_host, "a11y-panel", f"a11y-panel-{id(page)}")
    page.locator("[data-openproctor-panel] [data-action=agree]").wait_for()
    audit(page, "the notice and consent dialog")
    page.locator("[data-openproctor-panel] [data-action=agree]").click()
    page.wait_for_function("() => window.flags.started && window.s.state.ready")
    audit(page, "the indicator")
    page.locator("[data-openproctor-panel] button.indicator").click()
    audit(page, "the indicator's menu")
    page.locator("#question").click()
    page.keyboard.press("Control+c")  # blocked: the warning says so
    page.wait_for_function(f"() => {PANEL}.querySelector('[aria-live]').textContent.length > 0")
    audit(page, "a visible warning")
    page.locator("[data-openproctor-panel] [data-action=take-break]").click()
    page.locator("[data-openproctor-panel] [data-action=end-break]").wait_for()
    audit(page, "the break dialog")
    page.locator("[data-openproctor-panel] [data-action=end-break]").click()
    page.click("#finish")
    page.wait_for_function("() => window.flags.uploaded")
    page.locator("[data-openproctor-panel] [role=status] a").wait_for()
    audit(page, "the end")


@pytest.mark.parametrize("theme", ["dark", "high-contrast"])
def test_the_dark_and_high_contrast_notice(browser, axe_source, live_server, exam_host, theme):
    context = browser.new_context(color_scheme="dark" if theme == "dark" else "light")
    context.add_init_script(axe_source)
    page = context.new_page()
    try:
        exam(live_server, "a11y-themes")
        jwt = mint_start_token(
            SECRET, user_id="student-a11y", exam_id="a11y-themes", session_id=f"theme-{theme}"
        )
        query = urllib.parse.urlencode({"server": live_server.base, "jwt": jwt})
        page.goto(f"{exam_host}/exam?{query}")
        page.evaluate(
            """([server, jwt, theme]) => openproctor.init({serverOrigin: server,
                 integrationName: "lms", jwt, theme}).then(s => { window.s = s; })""",
            [live_server.base, jwt, theme],
        )
        page.locator("[data-openproctor-panel] [data-action=agree]").wait_for()
        audit(page, f"the notice, theme {theme}")
    finally:
        context.close()


def test_the_record_page(a11y_page, live_server):
    page = a11y_page
    grant = live_server.start_session(f"a11y-record-{id(page)}", user_id="student-record")
    page.goto(live_server.base + grant["record_url"])
    audit(page, "the record page")


def test_the_lti_error_page(a11y_page, live_server):
    page = a11y_page
    page.goto(f"{live_server.base}/lti/login?iss=https%3A%2F%2Funknown.example&login_hint=x")
    assert page.locator("#error-code").count() == 1
    audit(page, "the LTI error page")


DASHBOARD = [
    "/dashboard",
    "/dashboard/sessions/{flagged}",
    "/dashboard/policies",
    "/dashboard/policies/CS101-final",
    "/dashboard/policies/new",
    "/dashboard/reports",
    "/dashboard/reports?exam=CS101-final",
    "/dashboard/fairness",
    "/dashboard/audit",
    "/dashboard/whatif?exam=CS101-final",
    "/dashboard/people",
    "/dashboard/people?user=student-dash-a11y",
    "/dashboard/settings",
    "/dashboard/lti",
    "/dashboard/webhooks",
    "/dashboard/sessions/does-not-exist",
]


@pytest.fixture(scope="module")
def a11y_admin(live_server) -> str:
    return add_account(live_server, "alba", "admin")


def test_every_dashboard_page(a11y_page, live_server, a11y_admin, flagged):  # noqa: F811
    page = a11y_page
    page.goto(f"{live_server.base}/dashboard/login")
    audit(page, "the sign-in page")
    sign_in(page, live_server, a11y_admin)
    grant = live_server.start_session(f"a11y-dash-{id(page)}", user_id="student-dash-a11y")
    for path in [*DASHBOARD, f"/dashboard/sessions/{flagged}"]:  # with its verdict forms
        page.goto(live_server.base + path.format(flagged=grant["session_id"]))
        audit(page, path)


def test_the_audit_sees_inside_the_panel(browser, axe_source, live_server, exam_host):
    """The audit can fail: an unnamed button in the panel's shadow root is found."""
    context = browser.new_context()
    context.add_init_script(axe_source)
    page = context.new_page()
    try:
        exam(live_server, "a11y-panel", breaks={"count": 2, "max_minutes": 5}, prevent=["copy"])
        open_exam(page, live_server, exam_host, "a11y-panel", "a11y-broken")
        page.locator("[data-openproctor-panel] [data-action=agree]").wait_for()
        page.evaluate(f"() => {{ {PANEL}.querySelector('[data-action=agree]').textContent = ''; }}")
        problems = page.evaluate(RUN, WCAG)
        assert any(p.startswith("button-name (critical)") for p in problems), problems
    finally:
        context.close()


def _focused(page) -> str:
    """What has the keyboard focus: the page's element id, or the panel's control."""
    return page.evaluate(
        """() => { const host = document.querySelector("[data-openproctor-panel]");
          if (host && document.activeElement === host) {
            const el = host.shadowRoot.activeElement;
            return "panel:" + (el ? (el.dataset.action || el.className || el.tagName) : "none"); }
          const el = document.activeElement;
          return el ? (el.id || el.tagName) : ""; }"""
    )


def _tab_to(page, target: str, limit: int = 30, back: bool = False) -> None:
    seen = []
    for _ in range(limit):
        page.keyboard.press("Shift+Tab" if back else "Tab")
        seen.append(_focused(page))
        if seen[-1] == target:
            return
    raise AssertionError(f"Tab never reached {target}: {seen}")


def test_a_whole_exam_with_the_keyboard_only(page, live_server, exam_host):
    exam(live_server, "a11y-keyboard", breaks={"count": 1, "max_minutes": 5})
    jwt = mint_start_token(SECRET, user_id="student-kb", exam_id="a11y-keyboard", session_id="kb-1")
    page.goto(
        f"{exam_host}/exam?" + urllib.parse.urlencode({"server": live_server.base, "jwt": jwt})
    )
    _tab_to(page, "start")
    page.keyboard.press("Enter")
    page.locator("[data-openproctor-panel] [data-action=agree]").wait_for()
    assert _focused(page) == "panel:H2"  # the dialog took the focus: its heading is read first
    _tab_to(page, "panel:agree")
    page.keyboard.press("Enter")
    page.wait_for_function("() => window.flags.started && window.s.state.ready")
    assert _focused(page) == "start"  # the focus went back where it was
    _tab_to(page, "panel:indicator")
    page.keyboard.press("Enter")
    _tab_to(page, "panel:take-break")
    page.keyboard.press("Enter")
    page.wait_for_function("() => window.s.state.onBreak")
    _tab_to(page, "panel:end-break")
    page.keyboard.press("Enter")
    page.wait_for_function("() => !window.s.state.onBreak")
    # never trapped: Tab leaves the panel and goes round to the page again
    _tab_to(page, "away")
    _tab_to(page, "finish")
    page.keyboard.press("Enter")
    page.wait_for_function("() => window.flags.uploaded")
    sid = page.evaluate("() => s.id")
    types = [e["type"] for e in live_server.events(sid)]
    assert {"consent", "break_start", "break_end", "session_end"} <= set(types)


def test_reduced_motion_and_the_colour_scheme_are_respected(browser, live_server, exam_host):
    exam(live_server, "a11y-panel", breaks={"count": 2, "max_minutes": 5}, prevent=["copy"])
    looks = {}
    for motion, scheme in (("no-preference", "light"), ("reduce", "dark")):
        context = browser.new_context(reduced_motion=motion, color_scheme=scheme)
        page = context.new_page()
        try:
            open_exam(page, live_server, exam_host, "a11y-panel", f"a11y-motion-{motion}")
            page.locator("[data-openproctor-panel] [data-action=agree]").wait_for()
            looks[motion] = page.evaluate(
                f"""() => [getComputedStyle({PANEL}.querySelector('.toast')).transitionDuration,
                   getComputedStyle({PANEL}.querySelector('.dialog')).backgroundColor]"""
            )
        finally:
            context.close()
    assert looks["no-preference"] == ["0.2s", "rgb(255, 255, 255)"]
    assert looks["reduce"] == ["0s", "rgb(30, 30, 30)"]  # and dark, from prefers-color-scheme


def test_the_lti_end_page(a11y_page, live_server):
    """The page a learner sees when the platform ends the attempt (lti_end.html), rendered by
    the server's own page() and served at the server's origin, so its style sheet is the real
    one (the whole LTI round trip is tested in test_lti.py and tests/unit)."""
    from openproctor.server.web.pages import page as render

    html = render(
        "lti_end.html",
        session_id="ops_example",
        summary={"events": 42, "complete": False},
        record_url="/record/ops_example?key=k",
        platform_message="The attempt was submitted.",
        return_url="https://lms.example/course/1",
    ).body
    url = f"{live_server.base}/__a11y/lti-end"
    a11y_page.route(url, lambda route: route.fulfill(body=html, content_type="text/html"))
    a11y_page.goto(url)
    assert a11y_page.title() == "Your proctored exam has ended"
    audit(a11y_page, "the LTI end page")
