"""Alert webhooks: ``openproctor webhook add|list|remove``."""

from __future__ import annotations

import argparse
from typing import Any

from ..services import opened
from .common import settings_of


def cmd_webhook_add(args: argparse.Namespace) -> int:

    with opened(settings_of(args)) as services:
        webhook, secret = services.webhooks.add(
            args.institution, args.url, args.exam, created_by="cli"
        )
    scope = f"exam {args.exam!r}" if args.exam else "every exam"
    print(f"webhook {webhook.id} added: {webhook.url} ({scope} of {args.institution!r})")
    print("signing secret (give it to the receiver; it is not shown again):")
    print(secret)
    return 0


def cmd_webhook_list(args: argparse.Namespace) -> int:

    with opened(settings_of(args)) as services:
        rows = services.webhooks.active(args.institution)
    if not rows:
        print("no webhooks (add one with: openproctor webhook add URL --institution ID)")
    for w in rows:
        print(
            f"{w.id}\t{w.url}\tinstitution={w.institution_id}\t"
            f"exam={w.exam_id or '*'}\tby={w.created_by}"
        )
    return 0


def cmd_webhook_remove(args: argparse.Namespace) -> int:

    with opened(settings_of(args)) as services:
        services.webhooks.remove(None, args.id)
    print(f"webhook {args.id} removed (its delivery log is kept)")
    return 0


def add_commands(sub: Any, common: argparse.ArgumentParser) -> None:
    webhook = sub.add_parser("webhook", help="manage alert webhooks (sessions flagged)")
    wsub = webhook.add_subparsers(dest="action", required=True, metavar="ACTION")
    wadd = wsub.add_parser(
        "add", parents=[common], help="POST an alert here when a session is flagged"
    )
    wadd.add_argument("url", help="the receiver (http or https)")
    wadd.add_argument("--institution", required=True, help="the institution whose sessions alert")
    wadd.add_argument("--exam", default=None, help="only this exam (default: every exam)")
    wadd.set_defaults(func=cmd_webhook_add)
    wlist = wsub.add_parser("list", parents=[common], help="list active webhooks (no secrets)")
    wlist.add_argument("--institution", default=None, help="only this institution")
    wlist.set_defaults(func=cmd_webhook_list)
    wrm = wsub.add_parser("remove", parents=[common], help="stop a webhook (its log is kept)")
    wrm.add_argument("id", type=int)
    wrm.set_defaults(func=cmd_webhook_remove)
