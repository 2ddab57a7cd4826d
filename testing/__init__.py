"""openproctor.testing: a test kit for integrators' QA (``pip install "openproctor[testing]"``).

A pytest plugin (loaded automatically once installed) with fixtures for a real openproctor
server and browser pages, signal helpers that make the browser fire the real events a
student's action fires, a request recorder for the privacy check, and assertions on the
server's record. docs/testing-your-integration.md is the guide; its example runs in
openproctor's own test suite.
"""

from __future__ import annotations

from .browsers import BrowserNotFound, engine_of, start_chromium
from .host import ExamHost
from .network import RecordedRequest, RequestRecorder
from .server import OpenproctorServer, Record, ServerError, start_local_server
from .signals import (
    SignalFailed,
    SignalUnsupported,
    agree,
    context_menu,
    copy_paste,
    end_break,
    focus_loss,
    fullscreen_exit,
    offline,
    print_attempt,
    second_display,
    tab_switch,
    take_break,
)

__all__ = [
    "BrowserNotFound",
    "ExamHost",
    "OpenproctorServer",
    "Record",
    "RecordedRequest",
    "RequestRecorder",
    "ServerError",
    "SignalFailed",
    "SignalUnsupported",
    "agree",
    "context_menu",
    "copy_paste",
    "end_break",
    "engine_of",
    "focus_loss",
    "fullscreen_exit",
    "offline",
    "print_attempt",
    "second_display",
    "start_chromium",
    "start_local_server",
    "tab_switch",
    "take_break",
]
