"""mlship on Ray Serve against plain Ray Serve, same model, same load, same run.

Both deployments serve the TorchScript digits MLP through Ray's HTTP proxy, one replica of one CPU
each, and take the same KServe v2 JSON (decoded and encoded by the same code):

- ``mlship``: ``mlship.ray.deployment`` (mlship's engine in-process, its batcher, ``apredict``);
- ``plain``: a Ray Serve deployment calling the ``torch.jit`` module, batched with ``@serve.batch``.

wrk drives each in turn at each concurrency. Run: ``python bench/ray_bench.py [--seconds 10]``.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "python"))
sys.path.insert(0, str(ROOT / "bench"))
import mlship
import models
from serve_bench import free_port, request_body, wrk

with warnings.catch_warnings():  # Ray's modules warn on import (pydantic deprecations)
    warnings.simplefilter("ignore")
    import mlship.ray
    import ray
    from ray import serve

MAX_BATCH = 32
CONCURRENCY = (8, 32)


@serve.deployment(max_ongoing_requests=2 * MAX_BATCH, ray_actor_options={"num_cpus": 1})
class PlainTorch:
    """The baseline: the TorchScript module in Python, requests grouped by Ray's ``@serve.batch``."""

    def __init__(self, path: str) -> None:
        torch.set_num_threads(1)
        self.module = torch.jit.load(path).eval()

    @serve.batch(max_batch_size=MAX_BATCH, batch_wait_timeout_s=0.001)
    async def infer(self, batch: list[np.ndarray]) -> list[np.ndarray]:
        sizes = [len(x) for x in batch]
        with torch.inference_mode():
            out = self.module(torch.from_numpy(np.concatenate(batch))).numpy()
        return np.split(out, np.cumsum(sizes)[:-1])

    async def __call__(self, request: Any) -> Any:
        from mlship._v2_json import decode_inputs, encode_outputs
        from starlette.responses import JSONResponse

        (x,) = decode_inputs(await request.json())
        return JSONResponse(encode_outputs("digits", await self.infer(x)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10, help="wrk duration per point (default 10)")
    args = parser.parse_args()

    X_train, X_test, y_train, _ = models.digits_split()
    net = models.train(models.DigitsMLP(), X_train, y_train, epochs=5).eval()
    work = Path(tempfile.mkdtemp(prefix="ray-bench-"))
    plain_path = work / "digits.pt"
    torch.jit.script(net).save(str(plain_path))
    model = mlship.load(net, example_inputs=torch.zeros(1, 64))
    body = request_body(X_test[:1], model.signature.inputs[0].name)
    lua = work / "post.lua"
    lua.write_text('wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n'
                   f"wrk.body = [==[{body}]==]\n")

    port = free_port()
    # Every Ray process on loopback (by default Ray picks the address of the route to the internet).
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, _node_ip_address="127.0.0.1")
    try:
        serve.start(http_options={"host": "127.0.0.1", "port": port})
        serve.run(mlship.ray.deployment(model, name="digits", num_replicas=1, max_batch_size=MAX_BATCH),
                  name="mlship", route_prefix="/mlship")
        serve.run(PlainTorch.bind(str(plain_path)), name="plain", route_prefix="/plain")
        paths = {"mlship": "/mlship/v2/models/digits/infer", "plain": "/plain/v2/models/digits/infer"}
        figures: dict[str, dict[int, dict[str, float]]] = {label: {} for label in paths}
        for label, path in paths.items():
            wrk(port, lua, 8, 2, path=path)  # warm-up
        for c in CONCURRENCY:
            for label, path in paths.items():
                figures[label][c] = wrk(port, lua, c, args.seconds, path=path)
    finally:
        serve.shutdown()
        ray.shutdown()
        shutil.rmtree(work, ignore_errors=True)

    print(f"Ray Serve {ray.__version__}, 1 replica x 1 CPU each, digits MLP, batch-1 JSON requests, "
          f"wrk {args.seconds:g} s per point, {torch.get_num_threads()} cores here")
    print(f"{'deployment':<10} {'conc':>4} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'errors':>6}")
    for label, points in figures.items():
        for c, f in points.items():
            print(f"{label:<10} {c:>4} {f['rps']:>8.0f} {f['p50_ms']:>8.2f} {f['p99_ms']:>8.2f} {f['errors']:>6}")
    for c in CONCURRENCY:
        ratio = figures["mlship"][c]["rps"] / figures["plain"][c]["rps"]
        print(f"concurrency {c}: mlship / plain Ray Serve = {ratio:.2f}x requests/s")


if __name__ == "__main__":
    main()
