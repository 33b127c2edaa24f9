"""``python -m softswitch``: the switch command line."""

from __future__ import annotations

import sys

from softswitch.cli import main

sys.exit(main())
