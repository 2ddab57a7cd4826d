"""JSON in, JSON out: the facade the browser worker drives (no Python object crosses into JS).

The worker creates one :class:`BrowserSession` from the session grant the server returned, feeds
it batches of raw signals, and posts the signed events it returns to the page for upload.
"""

from __future__ import annotations

import json
from typing import Any

from .chain import ChainState
from .errors import SignalError
from .events import Event, validate_event
from .policy import parse_policy
from .recorder import Recorder
from .scoring import Tally


def _dump(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


def _events(events: list[Event]) -> list[dict[str, Any]]:
    return [e.to_dict() for e in events]


class BrowserSession:
    """One session in the worker. ``config_json`` holds ``session_id``, ``signing_key`` (hex),
    ``policy``, ``chain`` (``next_seq``, ``last_mac``, ``last_t``) and ``environment``; a resumed
    session also ``tally`` (the server's running totals) and ``pending`` (events signed before a
    reload and not yet stored), so its live score and the score it reports at the end cover the
    whole log."""

    def __init__(self, config_json: str) -> None:
        config = json.loads(config_json)
        session_id = config["session_id"]
        chain = config["chain"]
        state = ChainState(session_id, chain["next_seq"], chain["last_mac"], chain["last_t"])
        tally = Tally.from_dict(config["tally"]) if config.get("tally") else Tally()
        for index, raw in enumerate(config.get("pending", [])):
            tally.add(validate_event(raw, index))
        self._recorder = Recorder(
            bytes.fromhex(config["signing_key"]),
            session_id,
            parse_policy(config["policy"]),
            candidate=session_id,
            state=state if state.next_seq else None,
            tally=tally,
        )
        self._environment = config["environment"]

    def start(self) -> str:
        """Sign ``session_start`` (a resumed session returns no event)."""
        if self._recorder.state.next_seq:
            return "[]"
        return _dump(_events(self._recorder.start(0, self._environment)))

    def feed(self, signals_json: str) -> str:
        """Process raw signals; returns ``{"events": [...], "rejected": [reasons]}``.

        A malformed signal is skipped and reported, never allowed to stop the session.
        """
        events: list[Event] = []
        rejected: list[str] = []
        for signal in json.loads(signals_json):
            try:
                events += self._recorder.feed(signal)
            except SignalError as exc:
                rejected.append(exc.message)
        return _dump({"events": _events(events), "rejected": rejected})

    def finish(self, t: float, reason: str = "finished") -> str:
        """Close the session: the remaining events and ``session_end``."""
        return _dump(_events(self._recorder.finish(t, reason)))

    def live(self) -> str:
        """The live score and breakdown for the page's listener."""
        return _dump(self._recorder.live().to_dict())

    def chain(self) -> str:
        """Where the chain stands (the page keeps it to resume after a reload)."""
        state = self._recorder.state
        return _dump(
            {"next_seq": state.next_seq, "last_mac": state.last_mac, "last_t": state.last_t}
        )
