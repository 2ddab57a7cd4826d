"""Keeping the database: ``openproctor migrate``, ``purge`` and ``rekey``."""

from __future__ import annotations

import argparse
from typing import Any

from ..services import opened
from .common import settings_of


def cmd_migrate(args: argparse.Namespace) -> int:
    with opened(settings_of(args)) as services:
        store = services.store
        print(f"schema up to date ({store!r})")
    return 0


def cmd_purge(args: argparse.Namespace) -> int:
    with opened(settings_of(args)) as services:
        store = services.store
        result = store.purge()
    print(
        f"purged the event logs of {result['sessions']} session(s) past their retention "
        f"({result['events']} event(s) deleted; session summaries kept)"
    )
    return 0


def cmd_rekey(args: argparse.Namespace) -> int:
    with opened(settings_of(args)) as services:
        store = services.store
        counts = store.reencrypt(services.keyring.reencrypt, actor="cli")
    print(
        f"re-encrypted {counts['integrations']} integration secret(s), {counts['webhooks']} "
        f"webhook secret(s) and {counts['lti_tool_keys']} tool key(s) under the newest master key"
    )
    if len(services.keyring.masters) > 1:
        print(
            "the older master key(s) are still needed to verify session tokens and keys made "
            "before the rotation: drop them once those sessions have finished (docs/server.md)"
        )
    return 0


def add_commands(sub: Any, common: argparse.ArgumentParser) -> None:
    sub.add_parser(
        "migrate", parents=[common], help="create or upgrade the database schema"
    ).set_defaults(func=cmd_migrate)

    sub.add_parser(
        "purge", parents=[common], help="delete event logs past their exam's log_retention_days"
    ).set_defaults(func=cmd_purge)
    sub.add_parser(
        "rekey",
        parents=[common],
        help="re-encrypt every stored secret under the newest master key (after adding one)",
    ).set_defaults(func=cmd_rekey)
