"""A server process for the shipping tests, bounded in time and always cleaned up."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from server_process import read_line_matching


@dataclass
class Running:
    """A started server: its process, its URL, and every line it printed so far."""

    proc: subprocess.Popen
    url: str
    lines: list[str] = field(default_factory=list)
    signal_pid: int | None = None  # whom SIGTERM goes to, when not ``proc`` (a process inside a namespace)

    def terminate(self, timeout: float = 60) -> tuple[int, str]:
        """SIGTERM, then the exit code and the rest of the output (bounded wait)."""
        os.kill(self.signal_pid or self.proc.pid, signal.SIGTERM)
        out, _ = self.proc.communicate(timeout=timeout)
        return self.proc.returncode, "".join(self.lines) + out


@contextlib.contextmanager
def running(cmd: Sequence[str], env: dict[str, str] | None = None, start_timeout: float = 120,
            url_pattern: str = r"at (http://127\.0\.0\.1:\d+)") -> Iterator[Running]:
    """Starts ``cmd``, waits for the line with its URL, and kills it on the way out if still alive."""
    proc = subprocess.Popen(list(cmd), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
                            start_new_session=True)
    try:
        yield wait_for_url(proc, start_timeout, url_pattern)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)  # its own session: takes any children with it
            proc.wait(timeout=30)
        proc.stdout.close()


def wait_for_url(proc: subprocess.Popen, timeout: float, pattern: str) -> Running:
    """Reads ``proc``'s output until a line matches ``pattern`` (its group 1 is the URL), bounded."""
    lines: list[str] = []
    line = read_line_matching(proc, pattern, lines, seconds=timeout)
    if line is None:
        raise AssertionError(f"the server did not start within {timeout} s: {''.join(lines)}")
    return Running(proc, re.search(pattern, line).group(1), lines)


def child_pid(pid: int, timeout: float = 10) -> int:
    """The one child of ``pid`` (e.g. the process ``unshare --fork`` started), waiting for it to appear."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            children = f.read().split()
        if children:
            return int(children[0])
        time.sleep(0.05)
    raise AssertionError(f"process {pid} started no child within {timeout} s")
