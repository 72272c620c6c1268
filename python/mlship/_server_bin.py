"""The ``mlship-server`` console script: execs the native server installed with the package.

The compiled ``mlship-server`` lands in ``mlship/bin/`` inside site-packages, which is not on
``PATH``. pip only puts console scripts on ``PATH``, so this one replaces itself with the
binary (``os.execv``): the process that runs is the native server, with no Python left in
it, and signals (SIGTERM draining) reach the server directly.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    from mlship._cli import server_executable

    binary = server_executable()
    if not os.access(binary, os.X_OK):
        print(f"mlship-server: the native server is not installed at {binary}; this mlship was built without "
              "the serving layers (MLSHIP_SKIP_LAYERS). Rebuild with them, or use `mlship serve`.", file=sys.stderr)
        return 1
    args = list(sys.argv[1:] if argv is None else argv)
    os.execv(binary, [str(binary), *args])
    return 0  # not reached: execv replaces the process


if __name__ == "__main__":
    sys.exit(main())
