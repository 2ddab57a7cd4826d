"""What every command shares: the settings from its options and the environment."""

from __future__ import annotations

import argparse

from ..settings import Settings


def settings_of(args: argparse.Namespace) -> Settings:
    """The settings, with ``--database`` and ``--secret-file`` over the environment."""
    return Settings.from_env(database_url=args.database, secret_file=args.secret_file)
