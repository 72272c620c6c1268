"""The Ray scenario of test_ship_ray.py, run as its own process inside a network namespace of its own.

Ray turns 127.0.0.1 into "the node's address" as seen by a route to the internet (the machine's
interface address), so a two-node cluster asked to stay on loopback would still connect through
that interface. In a namespace where only ``lo`` exists, there is no such route and Ray stays on
127.0.0.1. The scenario writes what it saw as JSON; the test asserts on it.

    python ray_scenario.py MODEL.pt INPUTS.npy RESULT.json
"""

from __future__ import annotations

import json
import sys
import threading
import time
import warnings
from typing import Any

import mlship
import numpy as np
from http_helpers import infer_body, request
from ray_cluster import free_port, token_environment, two_nodes

token_environment()  # before Ray is imported

with warnings.catch_warnings():  # Ray's modules warn on import (pydantic deprecations)
    warnings.simplefilter("ignore")
    import mlship.ray
    import ray
    from ray import serve

DEPLOYMENT = "mlship-digits"


def replicas(handle: Any, calls: int = 24) -> dict[int, str]:
    """pid -> node id of the replicas that answered ``calls`` describe() calls."""
    answers = [handle.describe.remote() for _ in range(calls)]
    return {a["pid"]: a["node_id"] for a in (r.result(timeout_s=60) for r in answers)}


def both_replicas(handle: Any, rounds: int = 5) -> dict[int, str]:
    """The replicas seen in up to ``rounds`` rounds of replicas(), stopping once two answered.
    Ray's router may send a burst of describe() calls all to one replica (it picks by queue
    length), so one round can miss a live one (CI once saw one replica before the kill)."""
    seen: dict[int, str] = {}
    for _ in range(rounds):
        seen.update(replicas(handle))
        if len(seen) >= 2:
            break
    return seen


def kill_one_replica_under_load(handle: Any, x: np.ndarray, expected: np.ndarray, clients: int) -> dict[str, Any]:
    """Kills a replica while ``clients`` threads send requests; counts what happened to them."""
    outcomes: list[str] = []
    stop = threading.Event()

    def client() -> None:
        while not stop.is_set():
            try:
                got = handle.predict.remote(x).result(timeout_s=30)
                outcomes.append("ok" if np.allclose(got, expected, rtol=1e-5, atol=1e-6) else "wrong")
            except Exception:  # noqa: BLE001 - a request on the killed replica
                outcomes.append("failed")

    before = both_replicas(handle)
    threads = [threading.Thread(target=client) for _ in range(clients)]
    for t in threads:
        t.start()
    replaced_after_s = None
    try:
        time.sleep(1.0)
        victim = next(a for a in ray.util.list_named_actors(all_namespaces=True)
                      if a["name"].startswith("SERVE_REPLICA") and DEPLOYMENT in a["name"])
        killed_at = time.monotonic()
        ray.kill(ray.get_actor(victim["name"], namespace=victim["namespace"]), no_restart=True)
        while time.monotonic() < killed_at + 90:
            try:
                now = replicas(handle, calls=8)
            except Exception:  # noqa: BLE001 - a describe() routed to the dying replica
                now = {}
            if len(now) == 2 and set(now) != set(before):
                replaced_after_s = time.monotonic() - killed_at
                break
            time.sleep(1.0)
        time.sleep(1.0)
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=60)
    after = both_replicas(handle)
    return {"before": before, "after": after, "replaced_after_s": replaced_after_s, "clients": clients,
            "ok": outcomes.count("ok"), "failed": outcomes.count("failed"), "wrong": outcomes.count("wrong")}


def main(model_path: str, inputs_path: str, result_path: str) -> None:
    model = mlship.load(model_path)
    x = np.load(inputs_path, allow_pickle=False)
    expected = model(x)
    result: dict[str, Any] = {"seconds": {}}
    started = time.monotonic()
    with two_nodes():
        result["seconds"]["cluster"] = time.monotonic() - started
        port = free_port()
        # One proxy (on the head): both nodes share 127.0.0.1, so a proxy per node would share a port.
        serve.start(proxy_location="HeadOnly", http_options={"host": "127.0.0.1", "port": port})
        try:
            app = mlship.ray.deployment(model, name="digits", num_replicas=2, max_batch_size=16)
            handle = serve.run(app, name="digits", route_prefix="/digits")
            result["seconds"]["deployed"] = time.monotonic() - started
            result["nodes"] = sorted(n["NodeID"] for n in ray.nodes() if n["Alive"])
            result["placed"] = replicas(handle)
            by_handle = handle.predict.remote(x).result(timeout_s=60)
            result["handle_max_diff"] = float(np.abs(by_handle - expected).max())
            url = f"http://127.0.0.1:{port}"
            status, body, _ = request(url, "POST", "/digits/v2/models/digits/infer", infer_body("x", x))
            result["http_status"] = status
            if status == 200:
                (out,) = body["outputs"]
                result["http_output"] = {"name": out["name"], "shape": out["shape"], "max_diff": float(np.abs(
                    np.array(out["data"], np.float32).reshape(out["shape"]) - expected).max())}
            status, body, _ = request(url, "POST", "/digits/v2/models/digits/infer", {"inputs": "nope"})
            result["bad_request"] = {"status": status, "body": body if isinstance(body, dict) else str(body)}
            result["seconds"]["served"] = time.monotonic() - started
            result["kill"] = kill_one_replica_under_load(handle, x[:4], expected[:4], clients=4)
            result["seconds"]["replaced"] = time.monotonic() - started
        finally:
            serve.shutdown()
    with open(result_path, "w") as f:
        json.dump(result, f)


if __name__ == "__main__":
    main(*sys.argv[1:4])
