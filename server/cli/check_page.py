"""``openproctor check-page URL``: the quick check a QA engineer runs on an exam page before
writing tests (openproctor.testing.check_page does the work; it needs the ``testing`` extra)."""

from __future__ import annotations

import argparse
from typing import Any

#: Exit code when the page could not be checked (docs/testing-your-integration.md).
NOT_CHECKED = 2


def cmd_check_page(args: argparse.Namespace) -> int:
    try:
        from openproctor.testing.check_page import main
    except ImportError as exc:
        print(
            f"error: check-page needs the testing extra ({exc.name} is missing): "
            "pip install 'openproctor[testing]'"
        )
        return NOT_CHECKED
    return main(args)


def add_commands(sub: Any, common: argparse.ArgumentParser) -> None:
    check = sub.add_parser(
        "check-page",
        help="open an exam page in headless Chromium and check the SDK on it",
        description="Open an exam page in headless Chromium and report whether the openproctor "
        "SDK boots, the time from navigation to examStarted and to the core being ready, CSP "
        "violations, console errors, and every request to an origin other than the page's and "
        "the openproctor server's. The page must start a session itself (the script tag with a "
        "token in the URL fragment, or a start button: --click). Needs the testing extra "
        "(pip install 'openproctor[testing]'). Exit codes: 0 the SDK started and nothing was "
        "found; 1 a problem was found (listed); 2 the page could not be checked.",
    )
    check.add_argument("url", help="the exam page (with its #openproctor_token=... if it uses one)")
    check.add_argument(
        "--server",
        default=None,
        metavar="ORIGIN",
        help="the openproctor server's origin (default: where the page loads loader.js from)",
    )
    check.add_argument(
        "--click",
        default=None,
        metavar="SELECTOR",
        help="a CSS selector to click after the page loads (the page's start button)",
    )
    check.add_argument(
        "--timeout",
        type=float,
        default=60.0,
        metavar="SECONDS",
        help="how long to wait for examStarted and the core to be ready (default 60)",
    )
    check.add_argument(
        "--chromium",
        default=None,
        metavar="PATH",
        help="the Chromium binary (default $OPENPROCTOR_CHROMIUM, Playwright's own, then "
        "chromium on PATH)",
    )
    check.add_argument("--json", action="store_true", help="print the report as JSON")
    check.set_defaults(func=cmd_check_page)
