"""Starting and stopping a server process (``mlship serve`` or ``mlship-server``) in tests."""

from __future__ import annotations

import os
import re
import select
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
    after ``seconds``); every line read is appended to ``seen``.

    Reads the pipe's descriptor a byte at a time, never through ``proc.stdout``: a buffered
    ``readline`` takes in everything the pipe holds, so a line that arrived with the previous
    one sat in Python's buffer while ``select`` waited on an empty pipe (CI once missed the
    SIGHUP line that way). Nothing past the newline is taken, so a later ``communicate``
    still gets the rest."""
    fd = proc.stdout.fileno()
    deadline = time.monotonic() + seconds
    pending = bytearray()
    while time.monotonic() < deadline:
        readable, _, _ = select.select([fd], [], [], 1)
        if not readable:
            if proc.poll() is not None:
                return None
            continue
        byte = os.read(fd, 1)
        if not byte:
            return None
        pending += byte
        if byte != b"\n":
            continue
        line = pending.decode("utf-8", errors="replace")
        pending.clear()
        if seen is not None:
            seen.append(line)
        if re.search(pattern, line):
            return line
    return None


def stop(proc: subprocess.Popen, sig: int = signal.SIGTERM) -> tuple[int, str]:
    proc.send_signal(sig)
    out, _ = proc.communicate(timeout=60)
    return proc.returncode, out
