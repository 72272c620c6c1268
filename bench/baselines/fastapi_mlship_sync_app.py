"""examples/fastapi_app.py with a plain `def` handler calling `dep.predict`, for bench/apps_bench.py.

FastAPI runs `def` handlers in its thread pool, so the forward pass still does not block the event
loop; the answer is handed to the waiting pool thread inside mlship, instead of resolving an asyncio
future from mlship's worker thread as `await dep.apredict` does. The benchmark shows what that
difference costs.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "examples"))
from fastapi_app import PredictRequest, PredictResponse, app  # noqa: E402 - the example's app and lifespan

# The example's route is replaced by a synchronous one; the lifespan (deploy / stop) stays.
app.router.routes = [r for r in app.router.routes if getattr(r, "path", None) != "/predict"]


@app.post("/predict")
def predict(request: PredictRequest) -> PredictResponse:
    scores = app.state.deployment.predict(np.asarray(request.inputs, dtype=np.float32))
    return PredictResponse(scores=scores.tolist(), classes=scores.argmax(axis=1).tolist())


assert os.environ.get("MLSHIP_MODEL"), "set MLSHIP_MODEL to a model saved by mlship"
