"""``python -m fastcopy.bench``: see fastcopy.bench.cli."""

import sys

from .cli import main

sys.exit(main())
