"""The student's panel in Chromium (issue 17): the notice and consent gate the exam, the consent
event verifies in the log, warnings appear at once and are announced, a declared break excuses
leaving the tab, `prevent` blocks copying and still records it, the end links the record.
The three-engine checks are in test_engines.py."""

from __future__ import annotations

import time
from urllib.parse import urlencode

import pytest

from openproctor.core import parse_policy, verify_log
from openproctor.server.notice import build_notice, consent_matches
from openproctor.server.security.tokens import mint_start_token
from openproctor.testing import end_break, take_break

from .conftest import SECRET, lms_page

PANEL = "[data-openproctor-panel]"


@pytest.fixture(autouse=True)
def _bounded_waits(page):
    page.set_default_timeout(30_000)


def exam(live_server, exam_id: str, **fields) -> None:
    """Store the exam's production policy (an institution's admin would, in the dashboard)."""
    store = live_server.store()
    try:
        store.policies.save("uni-a", parse_policy({"exam_id": exam_id, **fields}), "test")
    finally:
        store.close()


def start(page, lms, live_server, exam_id: str, session_id: str, theme: str = "") -> None:
    jwt = mint_start_token(SECRET, user_id="student-1", exam_id=exam_id, session_id=session_id)
    page.goto(lms("/panel", lms_page(live_server.base)))
    page.evaluate(
        """([server, jwt, theme]) => { window.started = false; window.breaks = [];
          const config = {serverOrigin: server, integrationName: "lms", jwt};
          if (theme) config.theme = theme;
          return openproctor.init(config).then(s => { window.s = s;
            s.examStarted.then(() => { window.started = true; }, e => { window.refused = e.code; });
            s.on("break", b => breaks.push(b.active)); }); }""",
        [live_server.base, jwt, theme],
    )


def button(page, action: str):
    return page.locator(f"{PANEL} button[data-action={action}]")


def finish(page) -> None:
    page.evaluate("() => s.finish().then(() => s.logUploaded)")


def row_id(page) -> str:
    return page.evaluate("() => s.id")


def test_consent_gates_the_exam_and_is_a_signed_event_naming_the_notice(page, lms, live_server):
    exam(live_server, "consent-1")
    start(page, lms, live_server, "consent-1", "p-consent-1")
    dialog = page.get_by_role("dialog")
    dialog.wait_for()
    assert "What this exam records" in dialog.inner_text()
    assert "What is never recorded" in dialog.inner_text()
    assert "System check" in dialog.inner_text()
    page.wait_for_function("() => s.state.running")
    time.sleep(1.0)
    assert page.evaluate("() => started") is False  # waits for "I agree"
    assert page.evaluate("() => s.state.consent") == "pending"
    button(page, "agree").click()
    page.wait_for_function("() => started === true")
    assert page.get_by_role("dialog").count() == 0
    page.wait_for_function("() => s.state.ready")
    finish(page)
    sid = row_id(page)
    log = verify_log(sid, live_server.events(sid), live_server.keys(sid))
    consents = [e for e in log if e.type == "consent"]
    assert len(consents) == 1 and consents[0].data["mode"] == "required"
    row = live_server.session(sid)
    assert consents[0].data["notice"] == build_notice(row)["hash"]
    assert consent_matches(row, consents[0])


def test_declining_keeps_the_exam_closed(page, lms, live_server):
    exam(live_server, "consent-2")
    start(page, lms, live_server, "consent-2", "p-consent-2")
    button(page, "decline").click()
    page.wait_for_function("() => window.refused")
    assert page.evaluate("() => refused") == "consent_declined"
    assert "has not started" in page.get_by_role("dialog").inner_text()
    page.wait_for_function("() => s.state.finished")
    sid = row_id(page)
    assert "consent" not in [e["type"] for e in live_server.events(sid)]


def test_a_notice_without_a_click_is_shown_and_recorded(page, lms, live_server):
    exam(live_server, "consent-3", consent="notice")
    start(page, lms, live_server, "consent-3", "p-consent-3")
    page.wait_for_function("() => started === true")  # no click needed
    notice = page.get_by_role("region", name="Before you start: ")
    assert "What this exam records" in notice.inner_text()
    page.locator("#answer").fill("typing while the notice is shown")  # it blocks nothing
    button(page, "continue").click()
    assert page.locator(f"{PANEL} [role=region]").count() == 0
    page.wait_for_function("() => s.state.ready")
    finish(page)
    sid = row_id(page)
    modes = [e["data"]["mode"] for e in live_server.events(sid) if e["type"] == "consent"]
    assert modes == ["notice"]


def test_theme_none_renders_nothing_and_the_integrator_agrees(page, lms, live_server):
    exam(live_server, "consent-4")
    start(page, lms, live_server, "consent-4", "p-consent-4", theme="none")
    page.wait_for_function("() => s.state.running")
    assert page.locator(PANEL).count() == 0
    assert page.evaluate("() => s.state.notice.sections.length") >= 3
    page.evaluate("() => s.agree()")
    page.wait_for_function("() => started === true")
    checks = page.evaluate("() => s.state.checks")
    assert checks["browser"] is True and checks["worker"] is True and checks["storage"] is True
    assert "display" in checks and "fullscreen" in checks  # both count under the default policy


def test_warning_announced_and_blocked_copy_recorded(page, lms, live_server):
    exam(live_server, "prevent-1", consent="off", prevent=["copy", "context_menu"])
    start(page, lms, live_server, "prevent-1", "p-prevent-1")
    page.wait_for_function("() => started === true && s.state.ready")
    page.evaluate(
        """() => { window.copied = null;
          document.addEventListener("copy", e => { window.copied = e.defaultPrevented; }); }"""
    )
    page.locator("#question").click()
    page.keyboard.press("Control+a")
    page.keyboard.press("Control+c")
    page.wait_for_function("() => window.copied !== null")
    assert page.evaluate("() => copied") is True  # cancelled: nothing reached the clipboard
    status = page.locator(f"{PANEL} [role=status][aria-live=polite]").first
    assert "Copying is turned off" in status.inner_text()
    # for an integrator's own warnings: the last counted flag the core signed
    page.wait_for_function("() => s.state.lastFlag && s.state.lastFlag.type === 'copy_paste'")
    finish(page)
    sid = row_id(page)
    assert "copy_paste" in [e["type"] for e in live_server.events(sid)]


def test_break_button_emits_break_events_and_tells_the_page(page, lms, live_server):
    exam(live_server, "break-1", consent="off", breaks={"count": 1, "max_minutes": 5})
    start(page, lms, live_server, "break-1", "p-break-1")
    page.wait_for_function("() => started === true && s.state.ready")
    assert (
        "Take a break (left: 1)" in page.locator(f"{PANEL} [data-action=take-break]").inner_text()
    )
    take_break(page)  # the kit's helper: the indicator's menu, then "Take a break"
    page.wait_for_function("() => breaks.length === 1")
    assert "You are on a break" in page.get_by_role("dialog").inner_text()
    end_break(page)
    page.wait_for_function("() => breaks.length === 2")
    assert page.evaluate("() => [breaks, s.state.breaksLeft]") == [[True, False], 0]
    finish(page)
    types = [e["type"] for e in live_server.events(row_id(page))]
    assert types.index("break_start") < types.index("break_end")
    end = page.locator(f"{PANEL} [role=status]", has_text="Your exam is submitted")
    end.wait_for()
    assert end.get_by_role("link").get_attribute("href").startswith(live_server.base + "/record/")


def test_the_student_explains_a_flag_on_the_record_page(page, lms, live_server):
    """From the end card's link: the record page's form, in the browser, under its CSP."""
    exam(live_server, "explain-1", consent="off")
    start(page, lms, live_server, "explain-1", "p-explain-1")
    page.wait_for_function("() => started === true && s.state.ready")
    page.locator("#question").click(button="right")  # a context menu: one flagged episode
    page.wait_for_timeout(1200)
    finish(page)
    link = page.locator(f"{PANEL} [role=status] a", has_text="See exactly what was recorded")
    link.wait_for()
    sid = row_id(page)
    page.goto(link.get_attribute("href"))
    page.get_by_label("Explain this").first.fill("I right-clicked to select a word, nothing more")
    page.get_by_role("button", name="Save explanation").first.click()
    assert "is saved" in page.get_by_role("status").inner_text()
    store = live_server.store()
    try:
        (saved,) = store.explanations.of_session(sid).values()
    finally:
        store.close()
    assert saved["text"] == "I right-clicked to select a word, nothing more"


def test_the_panel_speaks_the_browsers_language(browser, live_server, exam_host):
    """No language claim in the start token: navigator.languages decides (pl-PL here); the
    panel's catalog is fetched for that language alone."""
    context = browser.new_context(locale="pl-PL")
    page = context.new_page()
    fetched: list[str] = []
    page.on("request", lambda r: "/sdk/v1/i18n-" in r.url and fetched.append(r.url))
    try:
        exam(live_server, "lang-1")
        jwt = mint_start_token(
            SECRET,
            user_id="student-pl",
            exam_id="lang-1",
            session_id="p-lang-1",
            claims={"language": ...},
        )
        page.goto(f"{exam_host}/exam?" + urlencode({"server": live_server.base, "jwt": jwt}))
        page.click("#start")
        dialog = page.get_by_role("dialog")
        dialog.wait_for()
        assert dialog.get_attribute("aria-labelledby") == "openproctor-title"
        assert page.locator(f"{PANEL} h2").inner_text().startswith("Zanim zaczniesz")
        assert "Co rejestruje ten egzamin" in dialog.inner_text()
        assert button(page, "agree").inner_text() == "Zgadzam się, rozpocznij egzamin"
        assert page.locator(f"{PANEL} .p").get_attribute("lang") == "pl"
        assert len(fetched) == 1 and "/i18n-pl-" in fetched[0]
    finally:
        context.close()


def test_init_lang_comes_before_the_browsers_list(page, lms, live_server):
    exam(live_server, "lang-2")
    jwt = mint_start_token(
        SECRET,
        user_id="student-it",
        exam_id="lang-2",
        session_id="p-lang-2",
        claims={"language": ...},
    )
    page.goto(lms("/lang", lms_page(live_server.base)))
    page.evaluate(
        """([server, jwt]) => openproctor.init({serverOrigin: server, integrationName: "lms",
             jwt, lang: "it-IT"}).then(s => { window.s = s; })""",
        [live_server.base, jwt],
    )
    button(page, "agree").wait_for()
    assert button(page, "agree").inner_text() == "Accetto, inizia l'esame"
    assert page.evaluate("() => s.state.notice.lang") == "it"


def test_a_proctoring_failure_is_told_to_the_student(page, context, lms, live_server):
    """The worker cannot load: the panel says so in the student's language (here German),
    in an alert, instead of leaving them unaware."""
    exam(live_server, "broken-1", consent="off")
    context.route(f"{live_server.base}/sdk/v1/worker-*", lambda r: r.fulfill(status=404))
    jwt = mint_start_token(
        SECRET,
        user_id="student-b",
        exam_id="broken-1",
        session_id="p-broken-1",
        claims={"language": "de"},
    )
    page.goto(lms("/panel", lms_page(live_server.base)))
    page.evaluate(
        """([server, jwt]) => { openproctor.init({serverOrigin: server, integrationName: "lms",
             jwt}).catch(() => {}); }""",
        [live_server.base, jwt],
    )
    alert = page.locator(f"{PANEL} [role=alert]")
    alert.wait_for()
    assert alert.inner_text().startswith("Die Aufsicht funktioniert in diesem Browser nicht mehr")
