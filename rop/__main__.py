"""``python -m rop``: the command line (see rop.cli)."""

import sys

from .cli import main

sys.exit(main())
