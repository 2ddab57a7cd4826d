"""Server settings: where the database is, where the master keys come from, and the limits."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_DATABASE = "sqlite:///openproctor.sqlite3"
#: Where ``python build.py`` puts the SDK bundle, relative to the working directory.
BUILT_BUNDLE = Path("build/sdk")
#: The bundle a wheel carries (setup.py copies ``build/sdk`` there when the wheel is built).
PACKAGED_BUNDLE = Path(__file__).resolve().parent / "bundle"
#: A source checkout's own build, for an editable install run from another directory.
CHECKOUT_BUNDLE = Path(__file__).resolve().parent.parent / "build" / "sdk"


def default_bundle_dir() -> Path:
    """The first of ``./build/sdk``, the wheel's bundle and the checkout's ``build/sdk`` that
    holds a built bundle (else ``./build/sdk``, whose absence the SDK routes then report)."""
    for candidate in (BUILT_BUNDLE, PACKAGED_BUNDLE, CHECKOUT_BUNDLE):
        if (candidate / "manifest.json").is_file():
            return candidate
    return BUILT_BUNDLE


@dataclass(frozen=True)
class Limits:
    """Bounds on what one client may send (each violation is a clear 4xx/429, nothing stored)."""

    max_body_bytes: int = 256 * 1024
    max_start_body_bytes: int = 16 * 1024
    max_events_per_batch: int = 500
    #: The most events one session may store: a 24-hour exam at a 5 s heartbeat signs about
    #: 17,300. It bounds the storage and the work a student's key can cause.
    max_events_per_session: int = 20_000
    batches_per_minute: int = 120
    #: A request body must arrive within this many seconds (408 otherwise): a client trickling
    #: bytes cannot hold a request open for ever.
    body_timeout_seconds: float = 30.0


@dataclass(frozen=True)
class Settings:
    """Everything the app needs to start. ``from_env`` reads ``OPENPROCTOR_*`` variables."""

    database_url: str = DEFAULT_DATABASE
    #: Master keys, newest first (base64 or any string of at least 32 characters). When empty,
    #: ``secret_file`` is read, and created with a fresh random key if it does not exist.
    secret_keys: tuple[str, ...] = ()
    secret_file: Path = Path("openproctor-secret.key")
    #: Extra time a session token stays valid after the exam's deadline (offline students
    #: must still be able to upload what they recorded).
    token_grace_seconds: int = 30 * 60
    limits: Limits = field(default_factory=Limits)
    #: The public origin of this server (https://proctor.uni-a.edu): the links, tool URLs and
    #: the evidence attestation's issuer are built from it, never from a request's Host header.
    #: ``serve`` refuses to start without it unless ``--demo``.
    public_origin: str | None = None
    #: A bearer token that lets a scraper read /metrics from anywhere (unset: this machine only).
    metrics_token: str | None = None
    #: Serve the /demo pages and the demo integration.
    demo: bool = False
    #: The built SDK bundle (see :func:`default_bundle_dir`).
    bundle_dir: Path = field(default_factory=default_bundle_dir)
    #: How often each server process looks for due webhook deliveries and calls to the LMS
    #: (ACS, AGS; None: never).
    webhook_poll_seconds: float | None = 2.0
    #: Wait before the first retry of a failed delivery or LMS call; it doubles with every failure.
    webhook_backoff_seconds: float = 10.0
    #: Let outbound calls (webhooks, platforms' key sets and services) reach loopback and private
    #: addresses (off: an administrator cannot make the server call internal services).
    outbound_allow_private: bool = False

    @classmethod
    def from_env(cls, **overrides: object) -> Settings:
        env = os.environ
        values: dict[str, object] = {}
        if "OPENPROCTOR_DATABASE_URL" in env:
            values["database_url"] = env["OPENPROCTOR_DATABASE_URL"]
        if env.get("OPENPROCTOR_SECRET_KEYS"):
            keys = tuple(k.strip() for k in env["OPENPROCTOR_SECRET_KEYS"].split(",") if k.strip())
            values["secret_keys"] = keys
        if "OPENPROCTOR_SECRET_FILE" in env:
            values["secret_file"] = Path(env["OPENPROCTOR_SECRET_FILE"])
        if "OPENPROCTOR_BUNDLE_DIR" in env:
            values["bundle_dir"] = Path(env["OPENPROCTOR_BUNDLE_DIR"])
        if env.get("OPENPROCTOR_DEMO") in ("1", "true", "yes"):
            values["demo"] = True
        if env.get("OPENPROCTOR_OUTBOUND_ALLOW_PRIVATE") in ("1", "true", "yes"):
            values["outbound_allow_private"] = True
        if "OPENPROCTOR_WEBHOOK_BACKOFF_SECONDS" in env:
            values["webhook_backoff_seconds"] = float(env["OPENPROCTOR_WEBHOOK_BACKOFF_SECONDS"])
        if "OPENPROCTOR_BODY_TIMEOUT_SECONDS" in env:
            values["limits"] = Limits(
                body_timeout_seconds=float(env["OPENPROCTOR_BODY_TIMEOUT_SECONDS"])
            )
        if env.get("OPENPROCTOR_PUBLIC_ORIGIN"):
            values["public_origin"] = env["OPENPROCTOR_PUBLIC_ORIGIN"].rstrip("/")
        if env.get("OPENPROCTOR_METRICS_TOKEN"):
            values["metrics_token"] = env["OPENPROCTOR_METRICS_TOKEN"]
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)  # type: ignore[arg-type]
