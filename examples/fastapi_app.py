"""A FastAPI app that serves a model with mlship, in the app's own process.

The deployment starts with the app (lifespan) with no HTTP server of its own (``http=False``):
requests reach it through FastAPI, and ``await dep.apredict(x)`` hands each one to mlship's
native batcher without blocking the event loop, so concurrent requests share forward passes.
It stops, draining what was accepted, when the app shuts down.

    MLSHIP_MODEL=digits.pt uvicorn fastapi_app:app          # a model saved with Model.save
    curl -s localhost:8000/predict -H 'content-type: application/json' -d '{"inputs": [[0.1, ...]]}'

With several worker processes (gunicorn -w N), each worker deploys its own copy. Do not use
gunicorn's --preload: native threads started before the fork do not exist in the workers.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import numpy as np
from fastapi import FastAPI, HTTPException
from pydantic import BaseModel

import mlship


class PredictRequest(BaseModel):
    """One row of features per entry."""

    inputs: list[list[float]]


class PredictResponse(BaseModel):
    """The model's scores per row, and the predicted class (argmax) of each."""

    scores: list[list[float]]
    classes: list[int]


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    app.state.deployment = mlship.deploy(os.environ.get("MLSHIP_MODEL", "model.pt"), http=False)
    try:
        yield
    finally:
        app.state.deployment.stop()


app = FastAPI(title="digits", lifespan=lifespan)


@app.post("/predict")
async def predict(request: PredictRequest) -> PredictResponse:
    x = np.asarray(request.inputs, dtype=np.float32)
    try:
        scores = await app.state.deployment.apredict(x)
    except mlship.InvalidInputError as e:  # wrong width, empty batch: the client's mistake
        raise HTTPException(status_code=400, detail=str(e)) from None
    except mlship.OverloadedError as e:  # queue full or shutting down: retry later
        raise HTTPException(status_code=503, detail=str(e)) from None
    return PredictResponse(scores=scores.tolist(), classes=scores.argmax(axis=1).tolist())


@app.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}
