"""Institutions and their integrations (an LMS backend's name, secret and origins)."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from ..errors import Conflict, NotFound
from . import schema
from .audit import record as audit_record
from .database import Database
from .rows import Integration

#: Seconds an integration looked up by id stays cached (every batch checks its origins).
CACHE_SECONDS = 10.0


class Integrations:
    def __init__(self, db: Database) -> None:
        self.db = db
        self._cache: dict[int, tuple[float, Integration]] = {}

    def add(
        self,
        name: str,
        institution_id: str,
        secret_enc: bytes,
        origins: Sequence[str],
        institution_name: str | None = None,
    ) -> Integration:
        now = time.time()
        with self.db.engine.begin() as conn:
            exists = conn.execute(
                sa.select(schema.institutions.c.id).where(
                    schema.institutions.c.id == institution_id
                )
            ).first()
            if exists is None:
                conn.execute(
                    schema.institutions.insert().values(
                        id=institution_id, name=institution_name or institution_id, created_at=now
                    )
                )
            try:
                conn.execute(
                    schema.integrations.insert().values(
                        name=name,
                        institution_id=institution_id,
                        secret_enc=secret_enc,
                        allowed_origins=json.dumps(list(origins)),
                        created_at=now,
                    )
                )
            except IntegrityError:
                raise Conflict(
                    "integration_exists", f"an integration named {name!r} already exists"
                ) from None
        found = self.get(name)
        assert found is not None
        return found

    def get(self, name: str) -> Integration | None:
        with self.db.engine.connect() as conn:
            row = (
                conn.execute(
                    sa.select(schema.integrations).where(schema.integrations.c.name == name)
                )
                .mappings()
                .first()
            )
        return Integration.from_row(row) if row else None

    def cached(self, integration_id: int) -> Integration | None:
        """The integration if it is in the by-id cache and fresh (no database read)."""
        found = self._cache.get(integration_id)
        return found[1] if found is not None and found[0] > time.monotonic() else None

    def by_id(self, integration_id: int, fresh: bool = False) -> Integration | None:
        """By id, cached for a few seconds: every batch checks its integration's origins.
        ``fresh``: read it now (a setting another process may just have changed)."""
        cached = self._cache.get(integration_id)
        if cached is not None and cached[0] > time.monotonic() and not fresh:
            return cached[1]
        found = self._by_id(integration_id)
        if found is not None:
            self._cache[integration_id] = (time.monotonic() + CACHE_SECONDS, found)
        return found

    def _by_id(self, integration_id: int) -> Integration | None:
        with self.db.engine.connect() as conn:
            row = (
                conn.execute(
                    sa.select(schema.integrations).where(schema.integrations.c.id == integration_id)
                )
                .mappings()
                .first()
            )
        return Integration.from_row(row) if row else None

    def all(self) -> list[Integration]:
        with self.db.engine.connect() as conn:
            rows = (
                conn.execute(sa.select(schema.integrations).order_by(schema.integrations.c.name))
                .mappings()
                .all()
            )
        return [Integration.from_row(r) for r in rows]

    def identity_visibility(self, institution_id: str) -> str | None:
        t = schema.institutions
        with self.db.engine.connect() as conn:
            found = conn.execute(
                sa.select(t.c.identity_visibility).where(t.c.id == institution_id)
            ).scalar()
        return str(found) if found else None

    def set_identity_visibility(self, institution_id: str, value: str, actor: str) -> None:
        t = schema.institutions
        with self.db.engine.begin() as conn:
            conn.execute(
                t.update().where(t.c.id == institution_id).values(identity_visibility=value)
            )
            audit_record(conn, institution_id, actor, "institution.identity_visibility", value)

    def of_institution(self, institution_id: str) -> list[Integration]:
        """The institution's integrations, by name."""
        i = schema.integrations
        query = sa.select(i).where(i.c.institution_id == institution_id).order_by(i.c.name)
        with self.db.engine.connect() as conn:
            return [Integration.from_row(r) for r in conn.execute(query).mappings()]

    def remove(self, name: str) -> None:
        """Remove an integration that has no sessions (stored logs are never dropped with it)."""
        with self.db.engine.begin() as conn:
            row = conn.execute(
                sa.select(schema.integrations.c.id).where(schema.integrations.c.name == name)
            ).first()
            if row is None:
                raise NotFound("unknown_integration", f"no integration named {name!r}")
            used = conn.execute(
                sa.select(sa.func.count())
                .select_from(schema.sessions)
                .where(schema.sessions.c.integration_id == row.id)
            ).scalar_one()
            if used:
                raise Conflict(
                    "integration_in_use",
                    f"integration {name!r} has {used} session(s); purge them first",
                )
            conn.execute(schema.integrations.delete().where(schema.integrations.c.id == row.id))
        self._cache.pop(int(row.id), None)

    def rotate_secret(
        self, name: str, secret_enc: bytes, grace_seconds: float, actor: str
    ) -> Integration:
        """Make ``secret_enc`` the integration's secret; the old one stays valid for
        ``grace_seconds`` (the LMS backend switches over meanwhile). Audited."""
        i = schema.integrations
        now = time.time()
        with self.db.engine.begin() as conn:
            row = conn.execute(
                sa.select(i.c.id, i.c.secret_enc, i.c.institution_id).where(i.c.name == name)
            ).first()
            if row is None:
                raise NotFound("unknown_integration", f"no integration named {name!r}")
            conn.execute(
                i.update()
                .where(i.c.id == row.id)
                .values(
                    secret_enc=secret_enc,
                    previous_secret_enc=row.secret_enc,
                    previous_secret_until=now + grace_seconds,
                )
            )
            audit_record(
                conn,
                row.institution_id,
                actor,
                "integration.secret_rotated",
                f"integration:{name}",
                {"previous_valid_until": now + grace_seconds},
            )
        self._cache.pop(int(row.id), None)
        found = self.get(name)
        assert found is not None
        return found

    def configure(self, name: str, actor: str, **values: object) -> Integration:
        """Change Constructor-integration settings (``review_url``, ``strict_claims``); audited
        with the new values."""
        unknown = set(values) - {"review_url", "strict_claims"}
        if unknown:
            raise ValueError(f"not an integration setting: {sorted(unknown)}")
        i = schema.integrations
        with self.db.engine.begin() as conn:
            row = conn.execute(
                sa.select(i.c.id, i.c.institution_id).where(i.c.name == name)
            ).first()
            if row is None:
                raise NotFound("unknown_integration", f"no integration named {name!r}")
            conn.execute(i.update().where(i.c.id == row.id).values(**values))
            audit_record(
                conn,
                row.institution_id,
                actor,
                "integration.configured",
                f"integration:{name}",
                dict(values),
            )
        self._cache.pop(int(row.id), None)
        found = self.get(name)
        assert found is not None
        return found

    def origins(self) -> set[str]:
        with self.db.engine.connect() as conn:
            rows = conn.execute(sa.select(schema.integrations.c.allowed_origins)).scalars()
            return {origin for text in rows for origin in json.loads(text)}

    def forget(self) -> None:
        """Drop the by-id cache (after secrets were re-encrypted)."""
        self._cache.clear()
