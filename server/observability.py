"""The metrics the server counts (served at /metrics by web/metrics.py) and structured logs
(one JSON object a line), with secrets and control characters kept out of every line.

With ``openproctor serve --workers N`` the workers share one port, so the CLI turns on
prometheus-client's multiprocess mode (``PROMETHEUS_MULTIPROC_DIR``): every worker writes its
values to files there and ``/metrics`` sums them, whichever worker answers. Separate machines
are scraped one by one, as usual. Nothing secret is ever a label or a log field: session ids are
pseudonymous, and tokens, keys and secrets are never passed to the logger.
"""

from __future__ import annotations

import json
import logging
import re
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram

REGISTRY = CollectorRegistry(auto_describe=True)
BATCHES = Counter(
    "openproctor_ingest_batches", "Event batches by outcome", ["outcome"], registry=REGISTRY
)
EVENTS = Counter(
    "openproctor_ingest_events", "Events stored (verified, not resends)", registry=REGISTRY
)
REJECTIONS = Counter(
    "openproctor_ingest_rejections", "Rejected batches by error code", ["reason"], registry=REGISTRY
)
SESSIONS = Counter(
    "openproctor_sessions_started", "Sessions started or resumed", ["kind"], registry=REGISTRY
)
LATENCY = Histogram(
    "openproctor_request_seconds",
    "Request latency by route and status class",
    ["route", "status"],
    registry=REGISTRY,
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, and any ``extra`` fields."""

    _standard = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": round(record.created, 3),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update({k: v for k, v in vars(record).items() if k not in self._standard})
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


#: Query parameters whose values are capabilities (the student's record key) or credentials.
SECRET_QUERY = re.compile(r"([?&](?:key|token|jwt|id_token|state|code)=)[^&\s\"]*")


class RedactQueryStrings(logging.Filter):
    """uvicorn's access log prints each request's full path: blank the values of query
    parameters that carry a capability or a credential before the line is written."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(
                SECRET_QUERY.sub(r"\1[redacted]", a) if isinstance(a, str) else a
                for a in record.args
            )
        return True


_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def escape_control(text: str) -> str:
    """``text`` with every control character written as an escape (\\n, \\x1b, ...): a value
    a client sent can never start a line of its own in the log."""
    return _CONTROL.sub(lambda m: repr(m.group())[1:-1], text)


class EscapeControlCharacters(logging.Filter):
    """Escapes control characters in a record's message and arguments (not in a traceback, which
    the formatter adds later): a logged value cannot forge a log line."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = escape_control(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(escape_control(a) if isinstance(a, str) else a for a in record.args)
        elif isinstance(record.args, dict):
            record.args = {
                k: escape_control(v) if isinstance(v, str) else v for k, v in record.args.items()
            }
        return True


def configure_logging(fmt: str, level: str) -> None:
    handler = logging.StreamHandler()
    handler.addFilter(EscapeControlCharacters())
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    access = logging.getLogger("uvicorn.access")
    if not any(isinstance(f, RedactQueryStrings) for f in access.filters):
        access.addFilter(RedactQueryStrings())
    for name in ("uvicorn.access", "uvicorn.error"):  # uvicorn's own handlers print these
        logger = logging.getLogger(name)
        if not any(isinstance(f, EscapeControlCharacters) for f in logger.filters):
            logger.addFilter(EscapeControlCharacters())
    root = logging.getLogger("openproctor")
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    root.propagate = False
