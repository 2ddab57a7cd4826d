"""The audit log: who changed what, when, with the values before and after (append-only),
hash-chained like the core's event log so that an edited, inserted or deleted entry is found.

Entries are written in the transaction of the change they record where there is one, so a
change is never stored without its entry. Each entry carries ``prev`` (the MAC of the entry
before it, or :data:`GENESIS`) and ``mac``: HMAC-SHA256, under a key derived from the master
keys (security/keys.py ``audit_keys``), of its fields and ``prev``. A database dump does not
hold the key, so whoever edits a row cannot re-sign the chain after it. ``openproctor audit
verify`` checks every link; deleting the newest entries leaves the chain whole, so the command
prints the head (its id and MAC) to keep elsewhere and compare. Entries from before the chain
existed (migration 0009) are a prefix without MACs, reported as such.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import weakref
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from ..errors import Misconfigured
from . import schema

GENESIS = hashlib.sha256(b"openproctor/audit/v1").hexdigest()
#: The PostgreSQL advisory lock that serialises appends (so two processes never fork the chain).
_LOCK = 0x6F70_6175  # "opau"
_KEYS: weakref.WeakKeyDictionary[Engine, bytes] = weakref.WeakKeyDictionary()


def use_key(engine: Engine, key: bytes) -> None:
    """The key new entries are signed with (the services set it from the master keys)."""
    _KEYS[engine] = key


def signing_bytes(entry: Mapping[str, Any], prev: str) -> bytes:
    """What an entry's MAC covers: every field but ``id`` and ``mac``, and ``prev``."""
    fields = {
        "institution_id": entry["institution_id"],
        "at": repr(float(entry["at"])),
        "actor": entry["actor"],
        "action": entry["action"],
        "target": entry["target"],
        "detail": entry["detail"],
        "prev": prev,
    }
    return json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def _mac(key: bytes, entry: Mapping[str, Any], prev: str) -> str:
    return hmac.new(key, signing_bytes(entry, prev), hashlib.sha256).hexdigest()


def _previous_mac(conn: Connection, before: int | None = None) -> str:
    a = schema.audit_log
    query = sa.select(a.c.mac).order_by(a.c.id.desc()).limit(1)
    if before is not None:
        query = query.where(a.c.id < before)
    found = conn.execute(query).scalar()
    return str(found) if found else GENESIS


def record(
    conn: Connection,
    institution_id: str | None,
    actor: str,
    action: str,
    target: str,
    detail: Mapping[str, Any] | None = None,
) -> None:
    """Append one entry, chained to the one before it, inside the caller's transaction."""
    key = _KEYS.get(conn.engine)
    if key is None:
        raise Misconfigured(
            "audit_key",
            "this Storage has no audit key: open it through the services, or call "
            "storage.audit.use_key(storage.engine, keyring.audit_keys()[0]) first",
        )
    a = schema.audit_log
    entry = {
        "institution_id": institution_id,
        "at": time.time(),
        "actor": actor[:255],
        "action": action,
        "target": target[:255],
        "detail": json.dumps(dict(detail or {}), sort_keys=True, default=str),
    }
    if conn.dialect.name == "postgresql":
        # Appends wait for each other; the newest entry is then the one to chain to.
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(:lock)"), {"lock": _LOCK})
        prev = _previous_mac(conn)
        conn.execute(a.insert().values(**entry, prev=prev, mac=_mac(key, entry, prev)))
        return
    # SQLite: the insert takes the database's write lock first, so no other entry can come
    # between the one read next and this one.
    inserted = conn.execute(a.insert().values(**entry, prev="", mac="")).inserted_primary_key
    assert inserted is not None
    new_id = int(inserted[0])
    prev = _previous_mac(conn, before=new_id)
    conn.execute(a.update().where(a.c.id == new_id).values(prev=prev, mac=_mac(key, entry, prev)))


@dataclass
class Verification:
    """What ``verify`` found: entries checked, those from before the chain, the head, and the
    first broken link (None: the chain is whole)."""

    checked: int = 0
    unchained: int = 0
    head_id: int | None = None
    head_mac: str | None = None
    problem: str | None = None
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.problem is None


def verify_entries(rows: Iterator[Mapping[str, Any]], keys: Sequence[bytes]) -> Verification:
    """Walk the entries in id order: each MAC must verify under one of ``keys`` (the master
    keys' audit keys, newest first) and name the MAC of the entry before it."""
    report = Verification()
    expected_prev: str | None = None  # None: still in the prefix from before the chain
    for row in rows:
        entry_id = int(row["id"])
        if not row["mac"]:
            if expected_prev is None:
                report.unchained += 1
                continue
            report.problem = f"entry {entry_id} carries no MAC (written or edited without the key)"
            break
        prev = GENESIS if expected_prev is None else expected_prev
        if row["prev"] != prev:
            report.problem = (
                f"entry {entry_id} does not follow the entry before it (an entry before it was "
                "deleted, or one was inserted)"
            )
            break
        if not any(hmac.compare_digest(_mac(k, row, prev), str(row["mac"])) for k in keys):
            report.problem = f"entry {entry_id} was changed after it was written (its MAC fails)"
            break
        expected_prev = str(row["mac"])
        report.checked += 1
        report.head_id, report.head_mac = entry_id, expected_prev
    return report


class AuditLog:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def record(
        self,
        institution_id: str | None,
        actor: str,
        action: str,
        target: str,
        detail: Mapping[str, Any] | None = None,
    ) -> None:
        with self.engine.begin() as conn:
            record(conn, institution_id, actor, action, target, detail)

    def entries(
        self,
        institution_id: str | None = None,
        limit: int = 200,
        before: int | None = None,
        action: str | None = None,
    ) -> list[dict[str, Any]]:
        """The newest entries first (of one institution, or all), ``before`` an id for paging."""
        a = schema.audit_log
        query = sa.select(a).order_by(a.c.id.desc()).limit(limit)
        if institution_id is not None:
            query = query.where(a.c.institution_id == institution_id)
        if before is not None:
            query = query.where(a.c.id < before)
        if action:
            query = query.where(a.c.action == action)
        with self.engine.connect() as conn:
            rows = conn.execute(query).mappings().all()
        return [{**row, "detail": json.loads(row["detail"])} for row in rows]

    def actions(self, institution_id: str) -> list[str]:
        a = schema.audit_log
        query = sa.select(a.c.action).where(a.c.institution_id == institution_id).distinct()
        with self.engine.connect() as conn:
            return sorted(str(r) for r in conn.execute(query).scalars())

    def verify(self, keys: Sequence[bytes], chunk: int = 1000) -> Verification:
        """Check the whole chain (all institutions: it is one chain), in chunks of ``chunk``."""
        a = schema.audit_log

        def rows() -> Iterator[Mapping[str, Any]]:
            after = 0
            while True:
                with self.engine.connect() as conn:
                    batch = (
                        conn.execute(
                            sa.select(a).where(a.c.id > after).order_by(a.c.id).limit(chunk)
                        )
                        .mappings()
                        .all()
                    )
                if not batch:
                    return
                for row in batch:
                    yield dict(row)
                after = int(batch[-1]["id"])

        return verify_entries(rows(), keys)
