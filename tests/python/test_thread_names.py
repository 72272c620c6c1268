"""mlship names the threads it starts (for top -H, ps -L, perf, py-spy) and no others."""

from __future__ import annotations

import os
import threading
from collections import Counter

import numpy as np
import torch

import mlship


def _threads() -> dict[str, str]:
    """tid -> name of this process's threads now."""
    names: dict[str, str] = {}
    for tid in os.listdir("/proc/self/task"):
        try:
            with open(f"/proc/self/task/{tid}/comm") as f:
                names[tid] = f.read().strip()
        except FileNotFoundError:  # the thread exited meanwhile
            continue
    return names


def test_a_deployment_names_its_threads_and_leaves_the_callers_alone():
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(4, 3)).eval()
    before = _threads()
    caller_names: list[str] = []

    def call(dep: mlship.Deployment) -> None:
        dep.predict(np.zeros((1, 4), np.float32))
        with open(f"/proc/self/task/{threading.get_native_id()}/comm") as f:
            caller_names.append(f.read().strip())

    with mlship.deploy(net, example_inputs=torch.zeros(1, 4), port=0, instances=2) as dep:
        dep.predict(np.zeros((1, 4), np.float32))  # starts the baton's watchdog
        caller = threading.Thread(target=call, args=(dep,), name="caller")
        caller.start()
        caller.join(timeout=30)
        during = _threads()
    # By thread id, not by name: a thread of an earlier test that exits meanwhile must not
    # cancel out one this deployment started.
    started = Counter(name for tid, name in during.items() if tid not in before)
    assert started["mlship-worker0"] == 1 and started["mlship-worker1"] == 1, started
    assert started["mlship-batcher"] == 1, started
    assert started["mlship-http"] >= 1, started
    assert started["mlship-monitor"] == 1, started
    assert started["mlship-baton"] == 1, started
    # The caller's thread keeps its name, though the baton and the batch ran on it.
    assert caller_names and not caller_names[0].startswith("mlship-"), caller_names
