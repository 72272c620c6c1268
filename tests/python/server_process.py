"""Starting and stopping a server process (``mlship serve`` or ``mlship-server``) in tests."""

from __future__ import annotations

import re
import selectors
import signal
import subprocess
import sys
import time

# The two servers a model file can be served by: `mlship serve` (Python over the C++ core)
# and the Python-free `mlship-server`; tests parametrize over these kinds.
SERVER_KINDS = ["python", "native"]
PYTHON_SERVE = [sys.executable, "-m", "mlship", "serve"]


def server_command(kind: str) -> list[str]:
    """The command that starts a server of `kind` ("python" or "native"), before its arguments."""
    if kind == "python":
        return list(PYTHON_SERVE)
    from mlship._cli import server_executable

    return [str(server_executable())]


def start(cmd: list[str], env: dict | None = None,
          seen: list[str] | None = None) -> tuple[subprocess.Popen, str]:
    """Starts a server and reads its URL from the line it prints (bounded wait); the lines
    read so far are appended to `seen` when given (the last one is the start line)."""
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    seen = [] if seen is None else seen
    line = read_line_matching(proc, r"at (https?://[\d.]+:\d+)", seen)
    if line is not None:
        return proc, re.search(r"at (https?://[\d.]+:\d+)", line).group(1)
    proc.kill()
    raise AssertionError(f"server did not start: {''.join(seen)}")


def read_line_matching(proc: subprocess.Popen, pattern: str, seen: list[str] | None = None,
                       seconds: float = 120) -> str | None:
    """The next line of the server's output matching ``pattern`` (None when it ends first, or
    after ``seconds``); every line read is appended to ``seen``."""
    selector = selectors.DefaultSelector()
    selector.register(proc.stdout, selectors.EVENT_READ)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not selector.select(timeout=1):
            if proc.poll() is not None:
                return None
            continue
        line = proc.stdout.readline()
        if not line:
            return None
        if seen is not None:
            seen.append(line)
        if re.search(pattern, line):
            return line
    return None


def stop(proc: subprocess.Popen, sig: int = signal.SIGTERM) -> tuple[int, str]:
    proc.send_signal(sig)
    out, _ = proc.communicate(timeout=60)
    return proc.returncode, out
