"""Checking a student's evidence bundle: ``openproctor verify``."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

#: Exit codes of ``openproctor verify`` (docs/server.md).
VERIFIED, NOT_VERIFIED, IDENTITY_UNCHECKED = 0, 1, 3


def cmd_verify(args: argparse.Namespace) -> int:
    from ..evidence import verify_bundle

    def load(path: Path, what: str) -> object:
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise SystemExit(f"error: cannot read the {what} {str(path)!r}: {exc}") from None

    bundle = load(args.bundle, "bundle")
    pinned = load(args.jwks, "key set") if args.jwks is not None else None
    if args.server is not None:
        pinned = _server_jwks(args.server)
    if pinned is not None and not isinstance(pinned, dict):
        raise SystemExit('error: --jwks must hold a JSON key set ({"keys": [...]})')
    report = verify_bundle(bundle, pinned)
    print("\n".join(report.lines()))
    if not report.ok:
        print("NOT VERIFIED")
        return NOT_VERIFIED
    if not report.identity_checked:
        print("CONSISTENT, BUT NOT SHOWN TO BE THE SERVER'S (no pinned key: see above)")
        return IDENTITY_UNCHECKED
    print("VERIFIED")
    return VERIFIED


def _server_jwks(server: str) -> object:
    """The key set a server publishes at /lti/jwks (fetched by the one outbound client; the
    user names the server, so loopback and private addresses are allowed here)."""
    from ..security.outbound import OutboundError, OutboundGuard

    url = server.rstrip("/") + "/lti/jwks"
    try:
        response = OutboundGuard(allow_private=True).request("GET", url)
    except OutboundError as exc:
        raise SystemExit(f"error: cannot fetch {url}: {exc.reason}") from None
    if response.status_code != 200:
        raise SystemExit(f"error: {url} answered HTTP {response.status_code}")
    try:
        return json.loads(response.content)
    except ValueError:
        raise SystemExit(f"error: {url} did not answer with a JSON key set") from None


def add_commands(sub: Any, common: argparse.ArgumentParser) -> None:
    verify = sub.add_parser(
        "verify",
        help="check a student's evidence bundle offline (chain, score, server attestation)",
        description="Check an evidence bundle (downloaded from a student's record page): every "
        "MAC and link of the signed log, completeness, the score recomputed with "
        "openproctor.core, and the server's attestation over every field of the bundle, "
        "against the server's key set (--server URL fetches it; --jwks FILE reads a saved "
        "copy, for checking offline). Exit codes: 0 verified against the server's key; 1 a "
        "check failed; 3 consistent, but no key was pinned, so the server's identity was not "
        "checked (a made-up bundle with its own key would pass that far).",
    )
    verify.add_argument("bundle", type=Path, help="the evidence bundle (JSON)")
    pin = verify.add_mutually_exclusive_group()
    pin.add_argument(
        "--jwks",
        type=Path,
        default=None,
        help="the server's key set (saved from its /lti/jwks) to check the attestation against",
    )
    pin.add_argument(
        "--server",
        default=None,
        metavar="URL",
        help="the server the bundle came from (e.g. https://proctor.uni-a.edu): its /lti/jwks "
        "is fetched and the attestation checked against it",
    )
    verify.set_defaults(func=cmd_verify)
