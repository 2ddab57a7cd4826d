"""``python -m openproctor.server.cli``: the ``openproctor`` command."""

import sys

from . import main

if __name__ == "__main__":
    sys.exit(main())
