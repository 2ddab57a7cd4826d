"""Calls back to the platform (ACS control actions, AGS scores, and Constructor-style result
callbacks to an integration's review_url), queued durably and sent by
any server process, like webhook deliveries: queued in the transaction that changes the
session (so a crash cannot lose one), built when sent from the session as it then is, retried
with backoff, each attempt kept for the dashboard. Ingest only inserts a row; the network is
never on its path.

docs/lti.md ("Calls back to the platform") has the triggers and the retry rule.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy.engine import Connection

from .. import constructor
from ..security.outbound import OutboundError, OutboundGuard
from ..storage import Storage
from ..storage.rows import Attempt, Registration, SessionRow
from ..webhooks import backoff
from . import acs, ags
from .access_tokens import AccessTokens

log = logging.getLogger("openproctor.server.lti.calls")

MAX_ATTEMPTS = 8
LEASE_SECONDS = 120.0
#: Answers worth another try: the platform is busy or down, not refusing.
TRANSIENT = {408, 425, 429, 500, 502, 503, 504}


class Refused(Exception):
    """The platform refused the call; another try would be refused too."""


@dataclass
class LmsOutcomes:
    """What a session's changes queue for its platform (the ingest and review hooks)."""

    store: Storage

    def session_changed(self, conn: Connection, row: SessionRow, fields: Mapping[str, Any]) -> None:
        became_flagged = bool(fields.get("flagged")) and not row.flagged
        finished = row.finished_at is None and fields.get("finished_at") is not None
        completed_later = (
            row.finished_at is not None and bool(fields.get("complete")) and not row.complete
        )
        paused, resumed = _break_change(row, fields)
        if not (became_flagged or finished or completed_later or paused or resumed):
            return
        attempt = self.store.lms.attempt(row.id, conn)
        if attempt is None:
            return
        now = time.time()
        settled = now if fields.get("complete") else now + acs.SETTLE_SECONDS
        if attempt.acs_url:  # a declared break pauses the attempt, where the platform can
            for action, happened in (("pause", paused), ("resume", resumed)):
                if happened and action in attempt.acs_actions:
                    self.store.lms.queue(conn, row.id, "acs", action, now)
        if became_flagged and "flag" in attempt.acs_actions and attempt.acs_url:
            self.store.lms.queue(conn, row.id, "acs", "flag", now)
        if finished and "terminate" in attempt.acs_actions and attempt.acs_url:
            self.store.lms.queue(conn, row.id, "acs", "terminate", settled)
        if (finished or completed_later) and _gradebook(attempt):
            self.store.lms.queue(conn, row.id, "ags", "score", settled, supersede=True)

    def decided(self, conn: Connection, session_id: str) -> None:
        """A reviewer decided: the gradebook gets the outcome (superseding what is queued)."""
        attempt = self.store.lms.attempt(session_id, conn)
        if attempt is not None and _gradebook(attempt):
            self.store.lms.queue(conn, session_id, "ags", "score", time.time(), supersede=True)

    def launched(self, attempt: Attempt) -> None:
        """A launch carried the AGS claim on an opted-in link: make its line item now."""
        if not _gradebook(attempt):
            return
        if self.store.lms.line_item(attempt.registration_id, attempt.resource_link["id"]):
            return
        with self.store.engine.begin() as conn:
            if not self.store.lms.queued(conn, attempt.session_id, "ags", "lineitem"):
                self.store.lms.queue(conn, attempt.session_id, "ags", "lineitem", time.time())


def _break_change(row: SessionRow, fields: Mapping[str, Any]) -> tuple[bool, bool]:
    """Whether this batch started a declared break, and whether it ended one (the running
    totals' breaks before and after: core/scoring.py Tally)."""
    if "tally_json" not in fields:
        return False, False
    before = row.tally.get("breaks", [])
    after = json.loads(fields["tally_json"]).get("breaks", [])
    if after == before:
        return False, False
    started = len(after) > len(before)
    was_open = bool(before) and before[-1][1] is None
    closed_now = was_open and after[len(before) - 1][1] is not None
    ended = closed_now or any(b[1] is not None for b in after[len(before) :])
    return started, ended


def _gradebook(attempt: Attempt) -> bool:
    return attempt.gradebook and bool(attempt.ags_lineitems)


@dataclass
class LmsCallSender:
    """Sends due calls; ``deliver_due`` is what the server's background task runs."""

    store: Storage
    guard: OutboundGuard
    tokens: AccessTokens
    #: Sends Constructor result callbacks (the ``review`` calls of the same queue).
    results: constructor.ResultSender
    backoff_base: float = 10.0
    clock: Callable[[], float] = time.time

    def deliver_due(self) -> dict[str, int]:
        outcome = {"delivered": 0, "retrying": 0, "failed": 0}
        for call in self.store.lms.claim_due(self.clock(), LEASE_SECONDS):
            status = self._attempt(call)
            outcome[status if status in outcome else "retrying"] += 1
        return outcome

    def _attempt(self, call: Mapping[str, Any]) -> str:
        attempts = int(call["attempts"]) + 1
        values: dict[str, Any] = {"attempts": attempts, "last_attempt_at": self.clock()}
        try:
            status, result, payload = self._send(call)
        except Refused as exc:
            values.update(status="failed", last_error=str(exc)[:500])
        except OutboundError as exc:
            values["last_error"] = f"refused or failed: {exc.reason}"[:500]
            values["status"] = "failed" if attempts >= MAX_ATTEMPTS else "pending"
        else:
            values.update(last_status=status, payload=payload)
            if 200 <= status < 300:
                values.update(
                    status="delivered", delivered_at=self.clock(), result=result, last_error=None
                )
            elif status in TRANSIENT and attempts < MAX_ATTEMPTS:
                values.update(status="pending", last_error=f"answered HTTP {status}: {result}")
            else:
                values.update(status="failed", last_error=f"answered HTTP {status}: {result}")
        if values["status"] == "pending":
            values["next_attempt_at"] = self.clock() + backoff(attempts, self.backoff_base)
        if values["status"] != "delivered":
            log.warning(
                "%s %s call %s (attempt %s): %s",
                call["service"],
                call["action"],
                call["id"],
                attempts,
                values.get("last_error"),
            )
        self.store.lms.update_call(int(call["id"]), values)
        return str(values["status"])

    def _context(self, call: Mapping[str, Any]) -> tuple[Registration, Attempt, SessionRow]:
        attempt = self.store.lms.attempt(call["session_id"])
        session = self.store.sessions.get(call["session_id"])
        if attempt is None or session is None:
            raise Refused("the session's launch is no longer known (its platform was removed)")
        registration = self.store.lti.get_registration(attempt.registration_id)
        if registration is None:
            raise Refused("the platform's registration was removed")
        return registration, attempt, session

    def _send(self, call: Mapping[str, Any]) -> tuple[int, str | None, str]:
        """Send one call; returns the HTTP status, the platform's answer (a status word or a
        URL, else the start of its error body) and the JSON that was sent."""
        if call["service"] == constructor.SERVICE:
            try:
                return self.results.send(call)
            except LookupError as exc:
                raise Refused(str(exc)) from None
        registration, attempt, session = self._context(call)
        if call["service"] == "acs":
            assert attempt.acs_url is not None
            body = acs.control_body(
                registration,
                attempt,
                session,
                call["action"],
                session.finished_at
                if call["action"] == "terminate" and session.finished_at
                else float(call["created_at"]),
            )
            response = self._post_control(registration, attempt.acs_url, body)
            return response.status_code, _answer(response, "status"), json.dumps(body)
        url = self._line_item(registration, attempt)
        if call["action"] == "lineitem":
            return 201, url, json.dumps(ags.line_item(attempt))
        decisions = self.store.reviewers.decisions(session.id)
        body = ags.score_body(
            attempt, session, decisions[0]["outcome"] if decisions else None, self.clock()
        )
        response = self._authorized(
            registration,
            ags.SCOPES,
            ags.scores_url(url),
            {"content-type": ags.SCORE_TYPE},
            json.dumps(body).encode(),
        )
        return response.status_code, _answer(response, None), json.dumps(body)

    def _post_control(self, registration: Registration, url: str, body: dict[str, Any]) -> Any:
        """POST the control request in the spec's media type; a platform that answers 415
        (edx-exams parses only JSON) gets it once more as application/json."""
        content = json.dumps(body).encode()
        response = None
        for media in (acs.MEDIA_TYPE, "application/json"):
            headers = {"content-type": media, "accept": f"{acs.MEDIA_TYPE}, application/json"}
            response = self._authorized(registration, (acs.SCOPE,), url, headers, content)
            if response.status_code != 415:
                break
        return response

    def _line_item(self, registration: Registration, attempt: Attempt) -> str:
        """The link's integrity line item: the one stored, else one the platform already
        lists (made by another process or an earlier registration), else a new one."""
        link_id = str(attempt.resource_link["id"])
        known = self.store.lms.line_item(registration.id, link_id)
        if known:
            return known
        lineitems = attempt.ags_lineitems
        assert lineitems is not None
        if ags.LINEITEM_SCOPE not in attempt.ags_scopes:
            raise Refused("the platform did not grant the AGS lineitem scope on this link")
        token = self.tokens.token(registration, ags.SCOPES)
        listed = self.guard.request(
            "GET",
            lineitems,
            headers={"authorization": f"Bearer {token}", "accept": ags.CONTAINER_TYPE},
        )
        found = None
        if listed.status_code == 200:
            try:
                items = listed.json()
            except ValueError:
                items = []
            if isinstance(items, list):
                found = next((i["id"] for i in items if ags.is_ours(i, attempt)), None)
        if found is None:
            created = self._authorized(
                registration,
                ags.SCOPES,
                lineitems,
                {"content-type": ags.LINEITEM_TYPE, "accept": ags.LINEITEM_TYPE},
                json.dumps(ags.line_item(attempt)).encode(),
            )
            found = _answer(created, "id") if created.status_code in (200, 201) else None
            if found is None:
                problem = f"creating the line item: HTTP {created.status_code}"
                if created.status_code in TRANSIENT:
                    raise OutboundError(lineitems, problem)
                raise Refused(f"{problem} {_answer(created, None) or ''}".strip())
        return self.store.lms.save_line_item(registration.id, link_id, lineitems, found)

    def _authorized(
        self,
        registration: Registration,
        scopes: tuple[str, ...],
        url: str,
        headers: dict[str, str],
        content: bytes,
    ) -> Any:
        """POST with a bearer token; a 401 gets one more try with a new token."""
        response = None
        for fresh in (False, True):
            token = self.tokens.token(registration, scopes, fresh=fresh)
            response = self.guard.request(
                "POST",
                url,
                headers={**headers, "authorization": f"Bearer {token}"},
                content=content,
            )
            if response.status_code != 401:
                break
        return response


def _answer(response: Any, key: str | None) -> str | None:
    """``key`` of the JSON answer (the ACS status, a line item's id), or, without a key or
    when it is missing, the start of the body (for the operator's log)."""
    if key is not None:
        try:
            found = response.json().get(key)
        except (ValueError, AttributeError):
            found = None
        if isinstance(found, str):
            return found[:2000]
    text = response.content[:300].decode("utf-8", "replace")
    return text or None
