"""Storage: one module per table family on one database (SQLite or PostgreSQL), composed here.

``Storage(url)`` is what the services hold: ``storage.sessions``, ``storage.integrations``,
``storage.policies``, ``storage.lti``, ``storage.lms``, ``storage.reviewers``,
``storage.audit``; ``migrate``, ``purge`` and ``reencrypt`` work across tables.
Nothing here knows about HTTP.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy.engine import Engine

from . import maintenance
from .audit import AuditLog
from .database import Database
from .explanations import Explanations
from .integrations import Integrations
from .lms import LmsRecords
from .lti import LtiStore
from .people import People
from .policies import Policies
from .reviewers import Reveals, Reviewers
from .sessions import Sessions
from .webhooks import Webhooks

__all__ = ["Storage"]


class Storage:
    def __init__(self, url: str) -> None:
        self.db = Database(url)
        self.integrations = Integrations(self.db)
        self.policies = Policies(self.db)
        self.sessions = Sessions(self.db)
        self.lti = LtiStore(self.db)
        self.lms = LmsRecords(self.db)
        self.reviewers = Reviewers(self.db)
        self.reveals = Reveals(self.db)
        self.webhooks = Webhooks(self.db)
        self.audit = AuditLog(self.db.engine)
        self.explanations = Explanations(self.db)
        self.people = People(self.db)

    def __repr__(self) -> str:
        return f"Storage({self.db.engine.url.render_as_string(hide_password=True)!r})"

    @property
    def engine(self) -> Engine:
        return self.db.engine

    @property
    def dialect(self) -> str:
        return self.db.dialect

    def migrate(self) -> None:
        """Bring the schema up to the newest migration (idempotent)."""
        self.db.migrate()

    def close(self) -> None:
        self.db.close()

    def ping(self) -> None:
        self.db.ping()

    def purge(self, now: float | None = None) -> dict[str, int]:
        """Delete the event logs past their exam's retention (maintenance.purge)."""
        return maintenance.purge(self.db, now)

    def reencrypt(self, rotate: Callable[[bytes], bytes], actor: str) -> dict[str, int]:
        """Every stored secret under the newest master key (maintenance.reencrypt)."""
        counts = maintenance.reencrypt(self.db, rotate, actor)
        self.integrations.forget()
        return counts
