"""FastAPI peer: `gunicorn -k uvicorn.workers.UvicornWorker -w 2 fastapi_server:app` (FastAPI's
deployment docs: one worker process per core behind gunicorn). No batching: FastAPI has none.
Request: {"data": [flat floats]} at POST /predict; answer {"output": [flat floats]}."""

from fastapi import FastAPI, Request
import torch

from peer_common import load_model, rows

MODEL = load_model()
app = FastAPI()


@app.post("/predict")
async def predict(request: Request) -> dict:
    body = await request.json()
    with torch.inference_mode():
        y = MODEL(rows(body["data"]))
    return {"output": y.flatten().tolist()}
