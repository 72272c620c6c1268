"""`mlship.ray.deployment` on a real two-node Ray cluster on 127.0.0.1: replicas on both nodes, answers over
Ray's HTTP proxy and by handle, and a killed replica replaced without losing more than the requests in flight.

The cluster runs in ray_scenario.py, in a network namespace holding only loopback (why: see that file).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.skipif(shutil.which("unshare") is None, reason="needs util-linux unshare")

SCENARIO = Path(__file__).with_name("ray_scenario.py")


@pytest.fixture(scope="module")
def scenario(digits_model, digits, tmp_path_factory) -> dict:
    pytest.importorskip("ray")
    folder = tmp_path_factory.mktemp("ray")
    model, inputs, result = folder / "digits.pt", folder / "x.npy", folder / "result.json"
    digits_model.save(str(model))
    np.save(inputs, digits[1][:8])
    # A new network namespace with only `lo`, brought up; the scenario's processes all stay inside it.
    cmd = ["unshare", "--net", "--", "sh", "-c", 'ip link set lo up && exec "$0" "$@"',
           sys.executable, str(SCENARIO), str(model), str(inputs), str(result)]
    ran = subprocess.run(cmd, check=False, capture_output=True, text=True, timeout=420)
    assert ran.returncode == 0 and result.exists(), (ran.stdout + ran.stderr)[-4000:]
    return json.loads(result.read_text())


def test_two_replicas_run_on_both_nodes(scenario):
    assert len(scenario["nodes"]) == 2
    assert len(scenario["placed"]) == 2, scenario["placed"]
    assert sorted(scenario["placed"].values()) == scenario["nodes"]


def test_answers_by_handle_and_over_the_proxy(scenario, digits_model):
    assert scenario["handle_max_diff"] < 1e-5
    assert scenario["http_status"] == 200
    out = scenario["http_output"]
    assert out["name"] == digits_model.signature.outputs[0].name and out["shape"] == [8, 10]
    assert out["max_diff"] < 1e-4
    assert scenario["bad_request"]["status"] == 400 and "KServe v2" in scenario["bad_request"]["body"]["error"]


def test_a_killed_replica_is_replaced_and_only_requests_in_flight_fail(scenario):
    kill = scenario["kill"]
    assert kill["replaced_after_s"] is not None, kill
    before, after = kill["before"], kill["after"]
    assert len(after) == 2 and len(set(after) & set(before)) == 1, (before, after)
    assert len(set(after.values())) == 2  # the replacement went to the freed node
    assert kill["wrong"] == 0
    # At most the requests in flight on the killed replica (one per client) fail; the rest are answered.
    assert kill["failed"] <= kill["clients"], kill
    assert kill["ok"] > 20, kill
