"""One session as the browser runs it: raw signals in, signed events and a live score out."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from .chain import ChainState, KeyLike, Signer, verify_batch
from .errors import ProctorError
from .events import Event
from .normalise import Draft, Normaliser, NormaliserConfig
from .policy import Policy
from .scoring import Tally, TrustScore, score_tally

SDK_VERSION = "0.1.0"


class Recorder:
    """Normalises, signs and scores one session incrementally.

    ``start`` opens the log with ``session_start``; ``feed`` takes each raw signal; ``finish``
    closes the log with ``session_end`` (which carries the client's score in thousandths so the
    server can record a mismatch). After a page reload, :meth:`resume` continues the same chain.
    """

    def __init__(
        self,
        key: KeyLike,
        session_id: str,
        policy: Policy,
        *,
        candidate: str | None = None,
        config: NormaliserConfig | None = None,
        state: ChainState | None = None,
        tally: Tally | None = None,
    ) -> None:
        self.policy = policy
        self.candidate = candidate
        self.config = config or NormaliserConfig(heartbeat_ms=policy.heartbeat_seconds * 1000)
        self._signer = Signer(key, session_id, state)
        self._tally = tally or Tally()
        self._normaliser = Normaliser(self.config, start_t=self._signer.state.last_t)
        if self._tally.on_break:  # reloaded during a declared break: it goes on
            self._normaliser.resume_break(self._tally.breaks[-1].start)
        self._finished = False

    @classmethod
    def resume(
        cls,
        key: KeyLike,
        session_id: str,
        policy: Policy,
        previous: Iterable[Any],
        **options: Any,
    ) -> Recorder:
        """Continue a session from the events it already signed (verified here first)."""
        result = verify_batch(ChainState.start(session_id), previous, [key])
        if not result.new_events or result.new_events[0].type != "session_start":
            raise ProctorError("cannot resume: the previous events do not open with session_start")
        if result.new_events[-1].type == "session_end":
            raise ProctorError("cannot resume: the session has already ended")
        return cls(
            key,
            session_id,
            policy,
            state=result.state,
            tally=Tally.of(result.new_events),
            **options,
        )

    @property
    def state(self) -> ChainState:
        """The chain state after the last signed event."""
        return self._signer.state

    def start(self, t: int, environment: Mapping[str, Any]) -> list[Event]:
        """Sign ``session_start`` with the environment summary (browser, platform, mobile, ...)."""
        if self._signer.state.next_seq != 0:
            raise ProctorError("the session has already started")
        data = {"sdk_version": SDK_VERSION, **environment, "heartbeat_ms": self.config.heartbeat_ms}
        return self._sign([Draft(int(t), "session_start", data)])

    def feed(self, signal: Mapping[str, Any]) -> list[Event]:
        """Process one raw signal; return the newly signed events."""
        self._check_open()
        return self._sign(self._normaliser.feed(signal))

    def finish(self, t: float, reason: str = "finished") -> list[Event]:
        """Close open episodes and sign ``session_end``; return the newly signed events."""
        self._check_open()
        events = self._sign(self._normaliser.finish(t))
        end_t = max(int(t), self._signer.state.last_t)
        projected = self._tally.copy()
        projected.mark_alive(end_t)
        score = score_tally(projected, self.policy, self.candidate)
        data = {
            "count": self._signer.state.next_seq,
            "reason": reason,
            "score_milli": score.score_milli,
        }
        events += self._sign([Draft(end_t, "session_end", data)])
        self._finished = True
        return events

    def live(self) -> TrustScore:
        """The trust score so far (live feedback; the server's rescoring is the score of record)."""
        return score_tally(self._tally, self.policy, self.candidate)

    def _check_open(self) -> None:
        if self._signer.state.next_seq == 0:
            raise ProctorError("call start() before feeding signals")
        if self._finished:
            raise ProctorError("the session has already finished")

    def _sign(self, drafts: list[Draft]) -> list[Event]:
        signed = []
        for draft in drafts:
            event = self._signer.sign(draft.t, draft.type, draft.data)
            self._tally.add(event)
            signed.append(event)
        return signed
