"""mlship tunes glibc malloc at import so that a model call's temporaries are reused, not
page-faulted back in on every call (cpp/include/mlship/allocator_tuning.h). Each check runs in a
fresh interpreter: malloc's thresholds are process-wide and only ever set once."""

from __future__ import annotations

import json
import os
import subprocess
import sys

# Three 1.5 MiB blocks allocated, written and freed, 50 times: the pattern of a call's temporaries.
_PROBE = r"""
import ctypes, json, resource
import mlship._core as core
libc = ctypes.CDLL("libc.so.6")
libc.malloc.restype = ctypes.c_void_p
libc.malloc.argtypes = [ctypes.c_size_t]
libc.free.argtypes = [ctypes.c_void_p]
libc.memset.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_size_t]
size, rounds = 3 << 19, 50
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(rounds):
    blocks = [libc.malloc(size) for _ in range(3)]
    for b in blocks:
        libc.memset(b, 1, size)
    for b in blocks:
        libc.free(b)
faults = (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / rounds
print(json.dumps({"state": core.allocator_tuning(), "faults_per_round": faults}))
"""


def _probe(**env: str) -> dict:
    out = subprocess.run([sys.executable, "-c", _PROBE], env={**os.environ, **env}, capture_output=True, text=True,
                         timeout=120, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_import_keeps_freed_blocks_for_reuse_instead_of_faulting_them_back_in():
    tuned = _probe()
    untuned = _probe(MLSHIP_MALLOC_TUNING="0")
    assert tuned["state"] == "glibc malloc: mmap threshold 32 MiB, trim threshold 256 MiB", tuned
    assert untuned["state"] == "off (MLSHIP_MALLOC_TUNING=0)", untuned
    # 3 x 1.5 MiB is 1152 pages: glibc's defaults fault nearly all of them in again each round.
    assert untuned["faults_per_round"] > 500, untuned
    assert tuned["faults_per_round"] < 0.1 * untuned["faults_per_round"], (tuned, untuned)


def test_the_native_server_runs_on_tcmalloc_and_says_so(tmp_path):
    """mlship-server links tcmalloc (the build finds the Debian package `make` installs): it served
    14-16% more requests/s than glibc malloc under wrk (docs/benchmarks.md). Its settings line
    says which allocator serves, and glibc's thresholds are not set on an allocator nothing uses."""
    import torch
    from server_process import server_command, start, stop

    import mlship
    from mlship._cli import server_executable

    linked = subprocess.run(["ldd", str(server_executable())], capture_output=True, text=True, timeout=60).stdout
    assert "libtcmalloc_minimal.so.4" in linked, linked
    path = str(tmp_path / "m.pt")
    mlship.load(torch.nn.Linear(4, 2).eval(), example_inputs=torch.zeros(1, 4)).save(path)
    seen: list[str] = []
    proc, _ = start([*server_command("native"), path, "--port", "0"], env=dict(os.environ), seen=seen)
    try:
        assert any("malloc=tcmalloc (glibc thresholds not needed)" in line for line in seen), seen
    finally:
        stop(proc)


def _maps_tcmalloc(pid: int) -> bool:
    with open(f"/proc/{pid}/maps") as f:
        return any("libtcmalloc_minimal" in line for line in f)


def test_mlship_serve_runs_itself_again_on_tcmalloc_unless_told_not_to(tmp_path):
    """`mlship serve` re-executes itself (same pid) with tcmalloc preloaded: 19% more requests/s
    (docs/benchmarks.md). MLSHIP_ALLOCATOR=glibc keeps glibc's malloc, tuned, and a preload the
    user set is left alone (with jemalloc there, adding tcmalloc hung the server)."""
    import torch
    from server_process import server_command, start, stop

    import mlship

    path = str(tmp_path / "m.pt")
    mlship.load(torch.nn.Linear(4, 2).eval(), example_inputs=torch.zeros(1, 4)).save(path)
    env = {k: v for k, v in os.environ.items() if k not in ("LD_PRELOAD", "MLSHIP_ALLOCATOR")}
    for extra, expected in (({}, True), ({"MLSHIP_ALLOCATOR": "glibc"}, False), ({"LD_PRELOAD": "libm.so.6"}, False)):
        run_env = dict(env, **extra)
        proc, url = start([*server_command("python"), path, "--port", "0"], env=run_env)
        try:
            assert _maps_tcmalloc(proc.pid) is expected, extra
            status = subprocess.run([sys.executable, "-c", "import json, urllib.request; print(json.load("
                                     f"urllib.request.urlopen('{url}/v2/health/ready')))"],
                                    capture_output=True, text=True, timeout=60)
            assert status.returncode == 0, status.stderr
        finally:
            assert stop(proc)[0] == 0
