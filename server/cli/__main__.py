"""``python -m openproctor.server.cli``: the ``openproctor`` command."""

import sys

from . import main

sys.exit(main())
