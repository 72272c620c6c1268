"""examples/flask_app.py with the TorchScript module called directly instead of mlship, for bench/apps_bench.py."""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import torch
from flask import Flask, jsonify, request

torch.set_num_threads(1)
MODEL = torch.jit.load(os.environ["MLSHIP_BENCH_MODEL"]).eval()
app = Flask(__name__)


@app.post("/predict")
def predict() -> Any:
    x = torch.from_numpy(np.asarray(request.get_json()["inputs"], dtype=np.float32))
    with torch.no_grad():
        scores = MODEL(x)
    return jsonify(scores=scores.tolist(), classes=scores.argmax(dim=1).tolist())
