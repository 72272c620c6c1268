"""``python -m mlship``: the same as the ``mlship`` command."""

import sys

from mlship._cli import main

sys.exit(main())
