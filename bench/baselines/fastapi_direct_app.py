"""examples/fastapi_app.py with the TorchScript module called directly instead of mlship, for bench/apps_bench.py.

Same routes, request and response models. The handler is a plain `def`, so FastAPI runs it in
its thread pool and the event loop is not blocked by the forward pass: what a careful user writes.
"""

from __future__ import annotations

import os

import numpy as np
import torch
from fastapi import FastAPI
from pydantic import BaseModel

torch.set_num_threads(1)
MODEL = torch.jit.load(os.environ["MLSHIP_BENCH_MODEL"]).eval()


class PredictRequest(BaseModel):
    inputs: list[list[float]]


class PredictResponse(BaseModel):
    scores: list[list[float]]
    classes: list[int]


app = FastAPI(title="digits")


@app.post("/predict")
def predict(request: PredictRequest) -> PredictResponse:
    x = torch.from_numpy(np.asarray(request.inputs, dtype=np.float32))
    with torch.no_grad():
        scores = MODEL(x)
    return PredictResponse(scores=scores.tolist(), classes=scores.argmax(dim=1).tolist())
