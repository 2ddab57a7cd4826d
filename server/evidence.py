"""The evidence bundle a student downloads, and its offline verification (``openproctor verify``).

A bundle holds the signed log, the session key the student's browser signed it with, the policy
it was scored under, the server's result, and an attestation: an RS256 JWT, signed with the
tool's key (the one published at ``/lti/jwks``), over the SHA-256 of every field the bundle
presents (log, policy, result and verdict, exam, times), the event count, the last MAC and the
score of record. Verifying needs no network: the chain is checked with the key, the score
recomputed with openproctor.core, and the attestation checked against a key set the verifier
pins (``--jwks FILE``, or ``--server URL`` which fetches it). Without a pinned key the bundle's
own key is used and the verifier says plainly that the server's identity was not checked: a
bundle made up with its own key is consistent with itself and proves nothing.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import jwt

from openproctor.core import (
    FLAG_TYPES,
    ChainError,
    EncodingError,
    EventValidationError,
    IncompleteLog,
    PolicyError,
    check_complete,
    parse_policy,
    score_log,
    verify_log,
)

if TYPE_CHECKING:
    from .storage.rows import SessionRow


class AttestationKeys(Protocol):
    """What signs an attestation: the tool's keys (lti/keys.py ToolKeys)."""

    def sign(self, claims: dict[str, Any]) -> str: ...

    def jwks(self) -> dict[str, Any]: ...


FORMAT = "openproctor-evidence/2"
#: Fields of a bundle that the attestation's ``bundle_sha256`` does not cover (itself, the key
#: set a verifier must not trust anyway, and the prose).
UNATTESTED = ("attestation", "attestation_keys", "about")
ATTESTATION_AUDIENCE = "openproctor:evidence"


def digest(value: Any) -> str:
    """SHA-256 of a JSON value in a stable form (sorted keys, no spaces, UTF-8)."""
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


def build_bundle(
    row: SessionRow,
    events: Sequence[Mapping[str, Any]],
    signing_key: bytes,
    tool_keys: AttestationKeys,
    issuer: str,
    explanations: Sequence[Mapping[str, Any]] = (),
) -> dict[str, Any]:
    """The bundle of a stored session (``tool_keys`` signs the attestation); ``explanations``
    (the student's own, newest per episode) are covered by the attestation like the rest."""
    policy = row.policy
    result = {
        "status": row.status,
        "score_milli": row.score_milli,
        "flagged": bool(row.flagged),
        "complete": bool(row.complete),
        "integrity_reason": row.integrity_reason,
        "breakdown": row.breakdown,
    }
    claims = {
        "iss": issuer,
        "aud": ATTESTATION_AUDIENCE,
        "sub": row.id,
        "iat": int(time.time()),
        "log_sha256": digest(list(events)),
        "events": len(events),
        "last_mac": events[-1]["mac"] if events else None,
        "policy_sha256": digest(policy),
        "score_milli": row.score_milli,
        "flagged": bool(row.flagged),
        "complete": bool(row.complete),
    }
    bundle: dict[str, Any] = {
        "format": FORMAT,
        "about": "The signed proctoring log of one exam session, as stored by the server, with "
        "what is needed to check it offline: `openproctor verify THIS_FILE --server "
        f"{issuer}`.",
        "session_id": row.id,
        "exam": {"id": row.exam_id, "name": row.exam_name},
        "policy_version": row.policy_version,
        "policy": policy,
        "started_at": int(row.started_at),
        "finished_at": int(row.finished_at) if row.finished_at else None,
        "signing_key": signing_key.hex(),
        "events": list(events),
        "server_result": result,
        "explanations": [
            {"seq": int(x["seq"]), "text": x["text"], "created_at": int(x["created_at"])}
            for x in explanations
        ],
    }
    claims["bundle_sha256"] = attested_digest(bundle)
    attestation = tool_keys.sign(claims)
    kid = jwt.get_unverified_header(attestation)["kid"]
    published = [k for k in tool_keys.jwks()["keys"] if k["kid"] == kid]
    return {**bundle, "attestation": attestation, "attestation_keys": {"keys": published}}


def attested_digest(bundle: Mapping[str, Any]) -> str:
    """The SHA-256 the attestation carries: every field of the bundle but :data:`UNATTESTED`."""
    return digest({k: v for k, v in bundle.items() if k not in UNATTESTED})


@dataclass
class Verification:
    """Each check with its outcome, in the order they ran, and whether the attestation was
    checked against a key the verifier pinned (else the server's identity is unknown)."""

    checks: list[tuple[bool, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    identity_checked: bool = False

    @property
    def ok(self) -> bool:
        return bool(self.checks) and all(ok for ok, _ in self.checks)

    def add(self, ok: bool, text: str) -> bool:
        self.checks.append((ok, text))
        return ok

    def lines(self) -> list[str]:
        checks = [f"{'ok  ' if ok else 'FAIL'}  {text}" for ok, text in self.checks]
        return checks + [f"note  {text}" for text in self.notes]


def verify_bundle(bundle: Any, pinned_jwks: Mapping[str, Any] | None = None) -> Verification:
    """Check a bundle offline: format, chain, completeness, score, attestation."""
    report = Verification()
    if isinstance(bundle, dict) and bundle.get("format") == "openproctor-evidence/1":
        report.add(
            False,
            "this bundle has the older format openproctor-evidence/1, whose attestation does not "
            "cover the server's result: download it again from the record page",
        )
        return report
    if not isinstance(bundle, dict) or bundle.get("format") != FORMAT:
        report.add(False, f"not an openproctor evidence bundle (format {FORMAT} expected)")
        return report
    try:
        session_id = str(bundle["session_id"])
        key = bytes.fromhex(bundle["signing_key"])
        events = bundle["events"]
        policy = parse_policy(bundle["policy"])
        result = bundle["server_result"]
    except (KeyError, TypeError, ValueError, PolicyError) as exc:
        report.add(False, f"the bundle is malformed: {exc}")
        return report

    try:
        log = verify_log(session_id, events, [key], complete=False)
    except (ChainError, EventValidationError, EncodingError) as exc:
        report.add(False, f"signed chain: {exc}")
        return report
    report.add(
        True,
        f"signed chain: {len(log)} events, every MAC and link verifies for session {session_id}",
    )
    try:
        check_complete(log)
        complete = True
    except IncompleteLog as exc:
        complete = False
        reason = str(exc)
    if complete == bool(result.get("complete")):
        report.add(
            True,
            "complete log (session_start … session_end)"
            if complete
            else f"the log is incomplete, as the server recorded ({reason})",
        )
    else:
        report.add(
            False,
            f"completeness: the server says complete={result.get('complete')}, "
            f"the log says {complete}",
        )

    score = score_log(log, policy, session_id)
    same = score.score_milli == result.get("score_milli") and score.flagged == result.get("flagged")
    report.add(
        same,
        f"score recomputed with openproctor.core: {score.score:.3f} "
        f"({'flagged' if score.flagged else 'not flagged'} at {policy.trust_threshold:g})"
        + ("" if same else f"; the bundle states {result.get('score_milli')}/1000"),
    )
    _check_explanations(report, bundle.get("explanations", []), log)
    _check_attestation(report, bundle, events, log, score.score_milli, complete, pinned_jwks)
    report.notes.insert(0, verdict(result))
    return report


def _check_explanations(report: Verification, explanations: Any, log: Sequence[Any]) -> None:
    if not explanations:
        return
    flagged = {e.seq for e in log if e.type in FLAG_TYPES}
    try:
        seqs = [int(x["seq"]) for x in explanations]
        texts = [str(x["text"]) for x in explanations]
    except (KeyError, TypeError, ValueError):
        report.add(False, "the student's explanations are malformed")
        return
    stray = sorted(set(seqs) - flagged)
    report.add(
        not stray,
        f"the student's explanations: {len(texts)}, each beside a flagged event of the log"
        if not stray
        else f"the student's explanations name events that are not flagged episodes: {stray}",
    )


def verdict(result: Mapping[str, Any]) -> str:
    """The server's own verdict on the session, in words."""
    status = str(result.get("status", "unknown")).replace("_", " ")
    score = result.get("score_milli")
    scored = f"score {score / 1000:.3f}" if isinstance(score, int) else "not scored"
    flagged = "flagged for review" if result.get("flagged") else "not flagged"
    text = f"the server's verdict: {status}, {scored}, {flagged}"
    if result.get("integrity_reason"):
        text += f"; INTEGRITY FAILED: {result['integrity_reason']}"
    return text


def _check_attestation(
    report: Verification,
    bundle: Mapping[str, Any],
    events: Any,
    log: Sequence[Any],
    score_milli: int,
    complete: bool,
    pinned: Mapping[str, Any] | None,
) -> None:
    token = bundle.get("attestation")
    if not isinstance(token, str):
        report.add(False, "attestation: missing")
        return
    try:
        kid = jwt.get_unverified_header(token).get("kid")
        keys = (pinned if pinned is not None else bundle.get("attestation_keys")) or {}
        jwk = next((k for k in keys.get("keys", []) if k.get("kid") == kid), None)
        if jwk is None:
            where = "the pinned key set" if pinned is not None else "the bundle"
            report.add(False, f"attestation: signing key {kid!r} is not in {where}")
            return
        public = jwt.PyJWK(jwk, algorithm="RS256")
        claims = jwt.decode(
            token,
            public.key,
            algorithms=["RS256"],
            audience=ATTESTATION_AUDIENCE,
            options={"require": ["sub", "iat", "bundle_sha256", "log_sha256", "policy_sha256"]},
        )
    except jwt.InvalidTokenError as exc:
        report.add(False, f"attestation: {exc}")
        return
    expected = {
        "sub": bundle["session_id"],
        "bundle_sha256": attested_digest(bundle),
        "log_sha256": digest(events),
        "events": len(log),
        "last_mac": log[-1].mac if log else None,
        "policy_sha256": digest(bundle["policy"]),
        "score_milli": score_milli,
        "complete": complete,
    }
    wrong = [name for name, value in expected.items() if claims.get(name) != value]
    if wrong:
        report.add(False, f"attestation: does not match this bundle ({', '.join(wrong)})")
        return
    thumbprint = hashlib.sha256(
        json.dumps({k: jwk[k] for k in ("e", "kty", "n")}, separators=(",", ":")).encode()
    ).hexdigest()[:16]
    origin = "a key you pinned" if pinned is not None else "the key shipped in the bundle"
    report.add(
        True,
        f"attestation: signed by {claims.get('iss')} with key {kid} ({origin}, "
        f"thumbprint {thumbprint}) over this exact log, policy, result and verdict",
    )
    report.identity_checked = pinned is not None
    if pinned is None:
        report.notes.append(
            "THE SERVER'S IDENTITY WAS NOT CHECKED: the attestation key came with the bundle, "
            "so a bundle made up with its own key would pass too. Verify again with "
            "--server URL (fetches the server's /lti/jwks) or --jwks FILE"
        )
