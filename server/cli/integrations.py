"""LMS integrations: ``openproctor integration add|list|set|rotate-secret|remove`` and ``token``."""

from __future__ import annotations

import argparse
import json
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

from .. import constructor
from ..security.tokens import mint_start_token
from ..security.validation import ORIGIN
from ..services import opened
from .common import settings_of


def cmd_integration_add(args: argparse.Namespace) -> int:
    for origin in args.origin:
        if not ORIGIN.fullmatch(origin):
            raise SystemExit(
                f"error: --origin {origin!r} must look like https://lms.example.edu "
                "(scheme and host, optional port, no path)"
            )
    if args.secret is not None and len(args.secret) < 32:
        raise SystemExit("error: --secret must be at least 32 characters (HS256 key)")
    secret = args.secret or secrets.token_urlsafe(32)
    with opened(settings_of(args)) as services:
        store = services.store
        store.integrations.add(
            args.name,
            args.institution,
            services.keyring.encrypt(secret),
            args.origin,
            institution_name=args.institution_name,
        )
    print(f"integration {args.name!r} added for institution {args.institution!r}")
    print(f"allowed origins: {', '.join(args.origin) or '(none: same-origin only)'}")
    if args.secret is None:
        print("JWT secret (HS256; give it to the LMS backend; it is not shown again):")
        print(secret)
    return 0


def cmd_integration_list(args: argparse.Namespace) -> int:
    with opened(settings_of(args)) as services:
        store = services.store
        rows = store.integrations.all()
    if args.json:
        print(
            json.dumps(
                [
                    {
                        "name": i.name,
                        "institution": i.institution_id,
                        "allowed_origins": list(i.allowed_origins),
                        "review_url": i.review_url,
                        "strict_claims": i.strict_claims,
                    }
                    for i in rows
                ],
                indent=2,
            )
        )
        return 0
    if not rows:
        print("no integrations (add one with: openproctor integration add NAME --institution ID)")
    for i in rows:
        created = datetime.fromtimestamp(i.created_at, UTC).strftime("%Y-%m-%d")
        print(
            f"{i.name}\tinstitution={i.institution_id}\t"
            f"origins={','.join(i.allowed_origins) or '-'}\tcreated={created}"
            f"\treview_url={i.review_url or '-'}"
            f"\tstrict_claims={'on' if i.strict_claims else 'off'}"
        )
    return 0


def cmd_integration_remove(args: argparse.Namespace) -> int:
    with opened(settings_of(args)) as services:
        store = services.store
        store.integrations.remove(args.name)
    print(f"integration {args.name!r} removed")
    return 0


def cmd_integration_rotate_secret(args: argparse.Namespace) -> int:
    if not 0 <= args.grace_hours <= 24 * 30:
        raise SystemExit("error: --grace-hours must be from 0 to 720")
    if args.secret is not None and len(args.secret) < 32:
        raise SystemExit("error: --secret must be at least 32 characters (HS256 key)")
    secret = args.secret or secrets.token_urlsafe(32)
    with opened(settings_of(args)) as services:
        store = services.store
        store.integrations.rotate_secret(
            args.name, services.keyring.encrypt(secret), args.grace_hours * 3600, actor="cli"
        )
    until = datetime.now(UTC) + timedelta(hours=args.grace_hours)
    print(
        f"integration {args.name!r} has a new secret; the previous one is accepted until "
        f"{until:%Y-%m-%d %H:%M} UTC ({args.grace_hours:g} h): switch the LMS backend before then"
    )
    if args.secret is None:
        print("new JWT secret (HS256; it is not shown again):")
        print(secret)
    return 0


def cmd_integration_set(args: argparse.Namespace) -> int:
    strict = None if args.strict_claims is None else args.strict_claims == "on"
    if args.review_url is None and strict is None:
        raise SystemExit('error: give --review-url URL ("" removes it) or --strict-claims on|off')
    with opened(settings_of(args)) as services:
        found = constructor.configure(
            services.store, args.name, "cli", review_url=args.review_url, strict_claims=strict
        )
    print(
        f"integration {found.name!r}: review_url={found.review_url or '-'} "
        f"strict_claims={'on' if found.strict_claims else 'off'}"
    )
    return 0


def cmd_token(args: argparse.Namespace) -> int:
    with opened(settings_of(args)) as services:
        store = services.store
        integration = store.integrations.get(args.integration)
    if integration is None:
        raise SystemExit(f"error: no integration named {args.integration!r}")
    print(
        mint_start_token(
            services.keyring.decrypt(integration.secret_enc),
            user_id=args.user_id,
            exam_id=args.exam_id,
            session_id=args.session_id,
            exam_name=args.exam_name,
            duration=args.duration,
            valid_minutes=args.valid_minutes,
        )
    )
    return 0


def add_commands(sub: Any, common: argparse.ArgumentParser) -> None:
    integration = sub.add_parser("integration", help="manage LMS integrations")
    isub = integration.add_subparsers(dest="action", required=True, metavar="ACTION")
    add = isub.add_parser("add", parents=[common], help="register an integration")
    add.add_argument("name")
    add.add_argument("--institution", required=True, help="institution id (created if new)")
    add.add_argument("--institution-name", default=None)
    add.add_argument(
        "--origin",
        action="append",
        default=[],
        help="an LMS origin allowed to call the API from a browser (repeatable)",
    )
    add.add_argument(
        "--secret",
        default=None,
        help="the HS256 secret (at least 32 characters); generated if omitted",
    )
    add.set_defaults(func=cmd_integration_add)
    lst = isub.add_parser("list", parents=[common], help="list integrations (no secrets)")
    lst.add_argument("--json", action="store_true")
    lst.set_defaults(func=cmd_integration_list)
    rot = isub.add_parser(
        "rotate-secret",
        parents=[common],
        help="give an integration a new secret; the old one stays valid for a grace period",
    )
    rot.add_argument("name")
    rot.add_argument(
        "--grace-hours",
        type=float,
        default=72,
        help="how long the previous secret is still accepted (default 72, at most 720)",
    )
    rot.add_argument("--secret", default=None, help="the new secret (generated if omitted)")
    rot.set_defaults(func=cmd_integration_rotate_secret)
    settings = isub.add_parser(
        "set",
        parents=[common],
        help="Constructor compatibility: where results go (review_url), strict claims",
    )
    settings.add_argument("name")
    settings.add_argument(
        "--review-url",
        default=None,
        help='POST each session\'s result here, Constructor-style ("" removes it)',
    )
    settings.add_argument(
        "--strict-claims",
        choices=("on", "off"),
        default=None,
        help="on: refuse start tokens asking for what openproctor does not do (default off: "
        "start metadata-only and say so in 'warnings')",
    )
    settings.set_defaults(func=cmd_integration_set)
    rm = isub.add_parser("remove", parents=[common], help="remove an integration without sessions")
    rm.add_argument("name")
    rm.set_defaults(func=cmd_integration_remove)

    token = sub.add_parser(
        "token",
        parents=[common],
        help="mint a test integration JWT (what an LMS backend would sign)",
    )
    token.add_argument("integration")
    token.add_argument("--user-id", required=True)
    token.add_argument("--exam-id", required=True)
    token.add_argument("--session-id", required=True)
    token.add_argument("--exam-name", default="Demo exam")
    token.add_argument("--duration", type=int, default=60, help="exam minutes")
    token.add_argument("--valid-minutes", type=int, default=15, help="JWT lifetime")
    token.set_defaults(func=cmd_token)
