"""Run inside Pyodide at build time: a whole browser session through the worker's facade, so
every standard-library module the SDK loads is recorded and kept in the trimmed zip."""

import json

from openproctor.core import BrowserSession, derive_session_key, genesis, verify_log

session_id = "ops_trace"
key = derive_session_key(b"build-trace", session_id)
session = BrowserSession(
    json.dumps(
        {
            "session_id": session_id,
            "signing_key": key.reveal().hex(),
            "policy": {"exam_id": "trace", "weights": {"tab_switch": 2}},
            "environment": {
                "browser": "Chromium",
                "browser_version": "156",
                "engine": "Blink",
                "platform": "Linux",
                "mobile": False,
                "screens": None,
            },
            "chain": {"next_seq": 0, "last_mac": genesis(session_id), "last_t": 0},
        }
    )
)
events = json.loads(session.start())
signals = [
    {"t": 100, "kind": "fullscreen", "active": True},
    {"t": 900, "kind": "blur"},
    {"t": 902.5, "kind": "visibility", "hidden": True},
    {"t": 5000, "kind": "visibility", "hidden": False},
    {"t": 5001, "kind": "focus"},
    {"t": 6000, "kind": "clipboard", "action": "paste"},
    {"t": 7000, "kind": "contextmenu"},
    {"t": 8000, "kind": "shortcut", "combo": "Ctrl+Shift+I"},
    {"t": 9000, "kind": "print"},
    {
        "t": 9500,
        "kind": "window_size",
        "outer_w": 1200,
        "outer_h": 800,
        "inner_w": 900,
        "inner_h": 700,
    },
    {"t": 10000, "kind": "screens", "extended": True},
    {"t": 11000, "kind": "network", "online": False},
    {"t": 12000, "kind": "network", "online": True},
    {"t": 13000, "kind": "activity"},
    {"t": 13500, "kind": "pointer"},
    {"t": 14000, "kind": "fullscreen", "active": False},
    {"t": 15000, "kind": "bogus"},
    *({"t": t, "kind": "tick"} for t in range(16000, 200000, 1000)),
]
events += json.loads(session.feed(json.dumps(signals)))["events"]
json.loads(session.live())
json.loads(session.chain())
events += json.loads(session.finish(200000))
verify_log(session_id, events, [key])
