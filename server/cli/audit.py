"""The audit log: ``openproctor audit verify`` checks its hash chain, ``openproctor audit
export`` writes an institution's entries as JSON lines."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from ..services import opened
from .common import settings_of


def cmd_audit_verify(args: argparse.Namespace) -> int:
    with opened(settings_of(args)) as services:
        report = services.store.audit.verify(services.keyring.audit_keys())
    if report.unchained:
        print(f"{report.unchained} entries from before the chain (written without a MAC)")
    if not report.ok:
        print(f"BROKEN after {report.checked} verified entries: {report.problem}")
        return 1
    if report.head_id is None:
        print("VERIFIED: no chained entries yet")
        return 0
    print(f"VERIFIED: {report.checked} entries, every MAC and link")
    print(f"head: entry {report.head_id}, mac {report.head_mac}")
    print(
        "keep the head elsewhere: deleting the newest entries leaves a shorter chain that verifies"
    )
    return 0


def cmd_audit_export(args: argparse.Namespace) -> int:
    with opened(settings_of(args)) as services:
        before = None
        while True:
            rows = services.store.audit.entries(args.institution, limit=1000, before=before)
            for row in rows:
                sys.stdout.write(json.dumps(row, sort_keys=True, default=str) + "\n")
            if len(rows) < 1000:
                break
            before = int(rows[-1]["id"])
    return 0


def add_commands(sub: Any, common: argparse.ArgumentParser) -> None:
    audit = sub.add_parser("audit", help="the audit log: verify its hash chain, export it")
    asub = audit.add_subparsers(dest="action", required=True, metavar="ACTION")
    asub.add_parser(
        "verify",
        parents=[common],
        help="check every entry's MAC and link (exit 1 and the first broken entry if not)",
    ).set_defaults(func=cmd_audit_verify)
    export = asub.add_parser(
        "export", parents=[common], help="an institution's entries, newest first, as JSON lines"
    )
    export.add_argument("--institution", required=True)
    export.set_defaults(func=cmd_audit_export)
