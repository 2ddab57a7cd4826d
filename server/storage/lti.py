"""Storage for the LTI 1.3 tool: platform registrations, the tool's RSA keys, one-time login
states (state + nonce) and short-lived launch contexts (a deep-linking request being answered).

It shares the database of the other table families; every single-use record is
consumed with one conditional UPDATE, so two requests can never both use it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from ..errors import Conflict, Invalid, NotFound
from . import schema
from .database import Database
from .lms import forget_registration
from .rows import Registration

STATE_TTL = 600.0
CONTEXT_TTL = 3600.0


class LtiStore:
    def __init__(self, db: Database) -> None:
        self.engine = db.engine

    # -- registrations ---------------------------------------------------------------------

    def add_registration(
        self,
        integration_id: int,
        issuer: str,
        client_id: str,
        deployment_ids: Sequence[str],
        auth_url: str,
        jwks_url: str | None = None,
        public_jwk: dict[str, Any] | None = None,
        token_url: str | None = None,
        exam_url: str | None = None,
        allow_policy_override: bool = True,
    ) -> Registration:
        r = schema.lti_registrations
        try:
            with self.engine.begin() as conn:
                conn.execute(
                    r.insert().values(
                        integration_id=integration_id,
                        issuer=issuer,
                        client_id=client_id,
                        deployment_ids=json.dumps(list(deployment_ids)),
                        auth_url=auth_url,
                        jwks_url=jwks_url,
                        public_jwk=json.dumps(public_jwk) if public_jwk else None,
                        token_url=token_url,
                        exam_url=exam_url,
                        allow_policy_override=allow_policy_override,
                        created_at=time.time(),
                    )
                )
        except IntegrityError:  # unique per integration: nothing of another's is revealed
            raise Conflict(
                "registration_exists",
                f"this integration already has the platform with issuer {issuer!r} and client "
                f"id {client_id!r}",
            ) from None
        added = self.registration_of(integration_id, issuer, client_id)
        assert added is not None  # just inserted, in a committed transaction
        return added

    def registration_of(
        self, integration_id: int, issuer: str, client_id: str
    ) -> Registration | None:
        """The integration's registration of the platform (issuer, client id), if any."""
        r = schema.lti_registrations
        with self.engine.connect() as conn:
            row = conn.execute(
                sa.select(r).where(
                    r.c.integration_id == integration_id,
                    r.c.issuer == issuer,
                    r.c.client_id == client_id,
                )
            ).first()
        return Registration.from_row(row) if row is not None else None

    def find_registration(self, issuer: str, client_id: str | None) -> Registration | None:
        """By issuer and client id, or by issuer alone, when exactly one registration matches
        (several institutions may register one issuer: their platforms then use each
        registration's own login URL, ``/lti/login/{id}``)."""
        r = schema.lti_registrations
        query = sa.select(r).where(r.c.issuer == issuer)
        if client_id:
            query = query.where(r.c.client_id == client_id)
        with self.engine.connect() as conn:
            rows = conn.execute(query.limit(2)).all()
        if len(rows) != 1:
            if len(rows) > 1:
                raise Invalid(
                    "ambiguous_platform",
                    f"several registrations match issuer {issuer!r}"
                    + (f" and client id {client_id!r}" if client_id else "")
                    + ": configure the platform with its registration's own login URL "
                    "(/lti/login/ID, shown on the dashboard's LMS platforms page)",
                )
            return None
        return Registration.from_row(rows[0])

    def get_registration(self, registration_id: int) -> Registration | None:
        r = schema.lti_registrations
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(r).where(r.c.id == registration_id)).first()
        return Registration.from_row(row) if row else None

    def list_registrations(self) -> list[Registration]:
        r = schema.lti_registrations
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(r).order_by(r.c.issuer, r.c.client_id)).all()
        return [Registration.from_row(row) for row in rows]

    def remove_registration(self, issuer: str, client_id: str, integration_id: int) -> None:
        found = self.registration_of(integration_id, issuer, client_id)
        if found is None:
            raise NotFound(
                "unknown_registration", f"no platform {issuer!r} with client id {client_id!r}"
            )
        self.remove_registration_by_id(found.id)

    def remove_registration_by_id(self, registration_id: int) -> None:
        """Remove a registration with its pending logins and calls (sessions it started stay)."""
        r = schema.lti_registrations
        with self.engine.begin() as conn:
            for table in (schema.lti_states, schema.lti_contexts):
                conn.execute(table.delete().where(table.c.registration_id == registration_id))
            forget_registration(conn, registration_id)
            links = schema.lti_registration_links
            conn.execute(
                links.update()
                .where(links.c.registration_id == registration_id)
                .values(registration_id=None)
            )
            conn.execute(r.delete().where(r.c.id == registration_id))

    def add_deployment(self, registration_id: int, deployment_id: str) -> bool:
        """Learn a dynamically registered platform's deployment from its first launch: only
        while it has none (a conditional UPDATE, so two first launches cannot both add one)."""
        r = schema.lti_registrations
        with self.engine.begin() as conn:
            return bool(
                conn.execute(
                    r.update()
                    .where(r.c.id == registration_id, r.c.deployment_ids == "[]")
                    .values(deployment_ids=json.dumps([deployment_id]))
                ).rowcount
            )

    # -- one-time links of Dynamic Registration ---------------------------------------------

    def add_registration_link(
        self,
        code_hash: str,
        integration_id: int,
        exam_url: str | None,
        created_by: str,
        expires_at: float,
    ) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                schema.lti_registration_links.insert().values(
                    code_hash=code_hash,
                    integration_id=integration_id,
                    exam_url=exam_url,
                    created_by=created_by,
                    created_at=time.time(),
                    expires_at=expires_at,
                )
            )

    def registration_link(self, code_hash: str) -> dict[str, Any] | None:
        links = schema.lti_registration_links
        with self.engine.connect() as conn:
            row = (
                conn.execute(sa.select(links).where(links.c.code_hash == code_hash))
                .mappings()
                .first()
            )
        return dict(row) if row else None

    def use_registration_link(self, code_hash: str, now: float) -> bool:
        """Spend a link (single use, even when two requests race for it)."""
        links = schema.lti_registration_links
        with self.engine.begin() as conn:
            return bool(
                conn.execute(
                    links.update()
                    .where(
                        links.c.code_hash == code_hash,
                        links.c.used_at.is_(None),
                        links.c.expires_at > now,
                    )
                    .values(used_at=now)
                ).rowcount
            )

    def link_registered(self, code_hash: str, registration_id: int) -> None:
        links = schema.lti_registration_links
        with self.engine.begin() as conn:
            conn.execute(
                links.update()
                .where(links.c.code_hash == code_hash)
                .values(registration_id=registration_id)
            )

    # -- the tool's keys -------------------------------------------------------------------

    def tool_keys(self) -> list[dict[str, Any]]:
        """All keys, newest first: kid, encrypted private key, created and retired times."""
        k = schema.lti_tool_keys
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(k).order_by(k.c.created_at.desc())).mappings().all()
        return [dict(row) for row in rows]

    def add_tool_key(self, kid: str, private_enc: bytes, retire_others: bool) -> None:
        k = schema.lti_tool_keys
        now = time.time()
        with self.engine.begin() as conn:
            if retire_others:
                conn.execute(k.update().where(k.c.retired_at.is_(None)).values(retired_at=now))
            conn.execute(k.insert().values(kid=kid, private_enc=private_enc, created_at=now))

    def drop_tool_keys_retired_before(self, moment: float) -> int:
        k = schema.lti_tool_keys
        with self.engine.begin() as conn:
            return int(conn.execute(k.delete().where(k.c.retired_at < moment)).rowcount)

    # -- login states and launch contexts (single use) --------------------------------------

    def add_state(
        self, state: str, nonce: str, registration_id: int, params: dict[str, Any]
    ) -> None:
        now = time.time()
        with self.engine.begin() as conn:
            conn.execute(
                schema.lti_states.insert().values(
                    state=state,
                    nonce=nonce,
                    registration_id=registration_id,
                    params=json.dumps(params),
                    created_at=now,
                )
            )
            # Housekeeping: states nobody came back for.
            conn.execute(
                schema.lti_states.delete().where(schema.lti_states.c.created_at < now - 24 * 3600)
            )

    def get_state(self, state: str) -> dict[str, Any] | None:
        s = schema.lti_states
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(s).where(s.c.state == state)).mappings().first()
        if row is None:
            return None
        found = dict(row)
        found["params"] = json.loads(found["params"])
        found["expired"] = found["created_at"] + STATE_TTL < time.time()
        return found

    def consume_state(self, state: str) -> bool:
        """Mark the state used; False when it already was (a replayed launch)."""
        return self._consume(schema.lti_states.c.state, state)

    def add_context(
        self, context_id: str, registration_id: int, kind: str, claims: dict[str, Any]
    ) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                schema.lti_contexts.insert().values(
                    id=context_id,
                    registration_id=registration_id,
                    kind=kind,
                    claims=json.dumps(claims),
                    created_at=time.time(),
                )
            )

    def get_context(self, context_id: str, kind: str) -> dict[str, Any] | None:
        """An unused, unexpired context of ``kind`` (its claims and registration id)."""
        c = schema.lti_contexts
        with self.engine.connect() as conn:
            row = conn.execute(
                sa.select(c).where(
                    c.c.id == context_id,
                    c.c.kind == kind,
                    c.c.used_at.is_(None),
                    c.c.created_at > time.time() - CONTEXT_TTL,
                )
            ).first()
        if row is None:
            return None
        return {"registration_id": int(row.registration_id), "claims": json.loads(row.claims)}

    def consume_context(self, context_id: str) -> bool:
        """Mark the context used; False when it already was (a form submitted twice)."""
        return self._consume(schema.lti_contexts.c.id, context_id)

    def _consume(self, key: sa.Column[str], value: str) -> bool:
        """One conditional UPDATE: of two requests using one record, only one wins."""
        table = key.table
        with self.engine.begin() as conn:
            result = conn.execute(
                table.update()
                .where(key == value, table.c.used_at.is_(None))
                .values(used_at=time.time())
            )
        return bool(result.rowcount == 1)
