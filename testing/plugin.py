"""The pytest plugin (entry point ``pytest11``: ``openproctor``): command-line options and the
fixtures of docs/testing-your-integration.md.

Importing this module needs only pytest: Playwright is imported when a browser fixture is first
used, so a project that has pytest but not the ``testing`` extra is not broken by the plugin.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from .host import ExamHost

CHROMIUM, FIREFOX = "chromium", "firefox"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("openproctor", "openproctor.testing (docs/testing-your-integration.md)")
    group.addoption(
        "--openproctor-url",
        default=None,
        metavar="URL",
        help="test against this running openproctor server instead of starting one; needs "
        "--openproctor-integration and the integration's secret in $OPENPROCTOR_TEST_SECRET "
        "or --openproctor-secret-file",
    )
    group.addoption(
        "--openproctor-integration",
        default=os.environ.get("OPENPROCTOR_TEST_INTEGRATION"),
        metavar="NAME",
        help="the integration on --openproctor-url (default $OPENPROCTOR_TEST_INTEGRATION)",
    )
    group.addoption(
        "--openproctor-secret-file",
        default=None,
        metavar="PATH",
        help="a file holding that integration's secret (never pass a secret on the command line)",
    )
    group.addoption(
        "--openproctor-origin",
        action="append",
        default=[],
        metavar="ORIGIN",
        help="an origin the local server's test integration allows (repeatable); the "
        "openproctor_exam_host origin is always allowed",
    )
    group.addoption(
        "--openproctor-browser",
        action="append",
        default=[],
        choices=[CHROMIUM, FIREFOX],
        help="engine(s) for openproctor_page (repeatable; default: pytest-playwright's "
        "--browser values that the kit supports, else chromium)",
    )
    group.addoption(
        "--openproctor-chromium",
        default=None,
        metavar="PATH",
        help="the Chromium binary (default $OPENPROCTOR_CHROMIUM, Playwright's own, then chromium "
        "on PATH)",
    )
    group.addoption(
        "--openproctor-firefox",
        default=None,
        metavar="PATH",
        help="a stock Firefox binary, driven over WebDriver BiDi (default $OPENPROCTOR_FIREFOX, "
        "Playwright's own Firefox, then firefox-esr or firefox on PATH)",
    )


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "openproctor_browser_name" not in metafunc.fixturenames:
        return
    for marker in metafunc.definition.iter_markers("parametrize"):
        names = marker.args[0] if marker.args else ""
        if "openproctor_browser_name" in (names.split(",") if isinstance(names, str) else names):
            return  # the test chose its engines itself
    option = metafunc.config.option
    engines = option.openproctor_browser or [
        b for b in (getattr(option, "browser", None) or []) if b in (CHROMIUM, FIREFOX)
    ]
    metafunc.parametrize("openproctor_browser_name", engines or [CHROMIUM], scope="session")


# -- the exam page and the server ----------------------------------------------------------------


@pytest.fixture(scope="session")
def openproctor_exam_host() -> Iterator[ExamHost]:
    """A small web server on 127.0.0.1 for exam pages written in the test (``serve(path,
    html)`` returns the page's URL): a stand-in for the LMS while the real page is not used."""
    host = ExamHost()
    yield host
    host.close()


@pytest.fixture(scope="session")
def openproctor_origins(
    request: pytest.FixtureRequest, openproctor_exam_host: ExamHost
) -> list[str]:
    """The origins the local server's test integration allows (override to change them)."""
    return [openproctor_exam_host.origin, *request.config.option.openproctor_origin]


@pytest.fixture(scope="session")
def openproctor_server(
    request: pytest.FixtureRequest, openproctor_origins: list[str]
) -> Iterator[Any]:
    """A real openproctor server: ``openproctor serve`` on a temporary SQLite file and a free
    port with a test integration (``.url``, ``.integration``, ``.secret``, ``.origins``), or
    the server named by --openproctor-url."""
    from .server import start_local_server

    option = request.config.option
    if option.openproctor_url is None:
        server = start_local_server(openproctor_origins)
        try:
            yield server
        finally:
            server.stop()
        return
    yield remote_server(option, os.environ)


def remote_server(option: Any, environ: Mapping[str, str]) -> Any:
    """The server named by --openproctor-url, with the integration's credential; a missing
    piece is a usage error that says which."""
    from .server import OpenproctorServer

    if not option.openproctor_integration:
        raise pytest.UsageError("--openproctor-url needs --openproctor-integration NAME")
    if option.openproctor_secret_file:
        secret = Path(option.openproctor_secret_file).read_text().strip()
    else:
        secret = environ.get("OPENPROCTOR_TEST_SECRET", "")
    if not secret:
        raise pytest.UsageError(
            "--openproctor-url needs the integration's secret: set $OPENPROCTOR_TEST_SECRET or "
            "pass --openproctor-secret-file PATH"
        )
    return OpenproctorServer(
        option.openproctor_url.rstrip("/"),
        option.openproctor_integration,
        secret,
        tuple(option.openproctor_origin),
    )


@pytest.fixture
def openproctor_token(openproctor_server: Any) -> Callable[..., str]:
    """Mints a session JWT as the LMS backend would: ``openproctor_token(session_id=None,
    user_id=..., exam_id=..., **claims)``."""
    token: Callable[..., str] = openproctor_server.token
    return token


# -- browsers --------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def openproctor_firefox(request: pytest.FixtureRequest, playwright: Any) -> Iterator[Any]:
    from .browsers import firefox_launch_args

    launch = firefox_launch_args(playwright, request.config.option.openproctor_firefox)
    headless = not request.config.getoption("headed", default=False)
    # Firefox's print dialog stops the page until it is closed, which no test can do:
    # print silently (nowhere, in a headless browser without a printer) instead.
    prefs = {"print.always_print_silent": True, "print.show_print_progress": False}
    browser = playwright.firefox.launch(headless=headless, firefox_user_prefs=prefs, **launch)
    yield browser
    browser.close()


@pytest.fixture
def openproctor_page(
    request: pytest.FixtureRequest, openproctor_browser_name: str, playwright: Any
) -> Iterator[Any]:
    """A fresh page in which the signal helpers produce real events: in Chromium a browser the
    kit started and attached to without Playwright's focus emulation (a new one per test, so
    no storage is shared), in Firefox a new context of one browser."""
    from .browsers import start_chromium

    if openproctor_browser_name == CHROMIUM:
        started = start_chromium(
            playwright,
            request.config.option.openproctor_chromium,
            headless=not request.config.getoption("headed", default=False),
        )
        try:
            context = started.browser.contexts[0]
            blank = list(context.pages)
            page = context.new_page()
            for other in blank:
                other.close()
            page.set_default_timeout(30_000)
            yield page
        finally:
            started.close()
        return
    browser = request.getfixturevalue("openproctor_firefox")
    context = browser.new_context()
    try:
        page = context.new_page()
        page.set_default_timeout(30_000)
        yield page
    finally:
        context.close()


@pytest.fixture
def openproctor_requests(openproctor_page: Any) -> Any:
    """Every request of ``openproctor_page``'s context (its workers' too), from the start."""
    from .network import RequestRecorder

    return RequestRecorder(openproctor_page.context)
