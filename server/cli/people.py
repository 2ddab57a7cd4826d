"""A person's data on request: ``openproctor person export|erase --institution ID --user U``."""

from __future__ import annotations

import argparse
import json
from typing import Any

from ..services import opened
from .common import settings_of


def cmd_person_export(args: argparse.Namespace) -> int:
    with opened(settings_of(args)) as services:
        found = services.people.export(args.institution, args.user, "cli")
    print(json.dumps(found, indent=1, sort_keys=True, default=str, ensure_ascii=False))
    return 0


def cmd_person_erase(args: argparse.Namespace) -> int:
    if not args.yes:
        print("error: erasing cannot be undone: add --yes (export first to keep a copy)")
        return 2
    with opened(settings_of(args)) as services:
        erased = services.people.erase(args.institution, args.user, "cli")
    print(
        f"erased {erased['sessions']} session(s): {erased['events']} event(s) and "
        f"{erased['explanations']} explanation(s) deleted, names and ids removed; the anonymous "
        "summaries and the audit log are kept"
    )
    return 0


def add_commands(sub: Any, common: argparse.ArgumentParser) -> None:
    person = sub.add_parser("person", help="a person's data on request (GDPR access and erasure)")
    psub = person.add_subparsers(dest="action", required=True, metavar="ACTION")
    for name, func, text in (
        ("export", cmd_person_export, "everything stored about one LMS user, as JSON"),
        ("erase", cmd_person_erase, "erase one LMS user's personal data and event logs"),
    ):
        parser = psub.add_parser(name, parents=[common], help=text)
        parser.add_argument("--institution", required=True)
        parser.add_argument("--user", required=True, help="the LMS user id (userId, LTI sub)")
        if name == "erase":
            parser.add_argument("--yes", action="store_true", help="confirm: it cannot be undone")
        parser.set_defaults(func=func)
