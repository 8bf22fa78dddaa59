"""``python -m local``: see :mod:`local.cli`."""

from __future__ import annotations

import sys

from local.cli import main

sys.exit(main())
