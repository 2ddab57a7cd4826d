"""Dashboard accounts: ``openproctor reviewer add|list|remove``."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from ..services import opened
from .common import settings_of


def cmd_reviewer_add(args: argparse.Namespace) -> int:
    import getpass

    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = getpass.getpass(f"password for {args.username}: ")
        if getpass.getpass("again: ") != password:
            raise SystemExit("error: the passwords differ")
    with opened(settings_of(args)) as services:
        services.reviewers.add(args.username, args.institution, password, args.role)
    print(f"{args.role} {args.username!r} added for institution {args.institution!r}")
    return 0


def cmd_reviewer_list(args: argparse.Namespace) -> int:

    with opened(settings_of(args)) as services:
        rows = services.reviewers.accounts()
    if not rows:
        print("no reviewers (add one with: openproctor reviewer add NAME --institution ID)")
    for row in rows:
        print(f"{row['username']}\tinstitution={row['institution_id']}\trole={row['role']}")
    return 0


def cmd_reviewer_remove(args: argparse.Namespace) -> int:

    with opened(settings_of(args)) as services:
        services.reviewers.remove(args.username)
    print(f"reviewer {args.username!r} removed")
    return 0


def add_commands(sub: Any, common: argparse.ArgumentParser) -> None:
    reviewer = sub.add_parser("reviewer", help="manage dashboard accounts (per institution)")
    rsub = reviewer.add_subparsers(dest="action", required=True, metavar="ACTION")
    radd = rsub.add_parser("add", parents=[common], help="add a reviewer or admin account")
    radd.add_argument("username")
    radd.add_argument("--institution", required=True, help="the institution id it may review")
    radd.add_argument("--role", choices=["reviewer", "admin"], default="reviewer")
    radd.add_argument(
        "--password-stdin",
        action="store_true",
        help="read the password from the first line of standard input (else: prompt)",
    )
    radd.set_defaults(func=cmd_reviewer_add)
    rsub.add_parser("list", parents=[common], help="list accounts (no hashes)").set_defaults(
        func=cmd_reviewer_list
    )
    rrm = rsub.add_parser("remove", parents=[common], help="remove an account")
    rrm.add_argument("username")
    rrm.set_defaults(func=cmd_reviewer_remove)
