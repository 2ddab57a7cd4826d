"""The ``openproctor`` command: each group of commands is a module of this package, which adds
its own parser; ``main`` runs the one asked for inside the services (services.py)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from ..errors import OpenproctorError
from ..settings import DEFAULT_DATABASE
from . import (
    audit,
    check_page,
    integrations,
    lti,
    maintenance,
    people,
    reviewers,
    serve,
    verify,
    webhooks,
)

GROUPS = (
    serve,
    maintenance,
    integrations,
    reviewers,
    webhooks,
    lti,
    verify,
    audit,
    people,
    check_page,
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="openproctor", description="openproctor server and administration."
    )
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--database",
        default=None,
        metavar="URL",
        help=f"database URL (sqlite:///FILE or postgresql://...); default: "
        f"$OPENPROCTOR_DATABASE_URL or {DEFAULT_DATABASE}",
    )
    common.add_argument(
        "--secret-file",
        type=Path,
        default=None,
        metavar="PATH",
        help="file holding the master key(s), created on first use; default: "
        "$OPENPROCTOR_SECRET_FILE or ./openproctor-secret.key "
        "($OPENPROCTOR_SECRET_KEYS overrides it)",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for group in GROUPS:
        group.add_commands(sub, common)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except OpenproctorError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 1
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
