"""What the baseline servers share: load the TorchScript file, run one KServe v2 JSON request.

This is the wrapper a careful data scientist writes: the model loaded once per worker,
one torch thread per worker (two workers on two cores), no_grad, no batching.
"""

from __future__ import annotations

import os

import torch

torch.set_num_threads(1)
MODEL = torch.jit.load(os.environ["MLSHIP_BENCH_MODEL"]).eval()


def infer(request: dict) -> dict:
    spec = request["inputs"][0]
    x = torch.tensor(spec["data"], dtype=torch.float32).reshape(spec["shape"])
    with torch.no_grad():
        y = MODEL(x)
    return {
        "model_name": "digits",
        "outputs": [{"name": "output_0", "datatype": "FP32", "shape": list(y.shape), "data": y.flatten().tolist()}],
    }
