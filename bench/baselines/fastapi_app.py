"""FastAPI baseline: `gunicorn -k uvicorn.workers.UvicornWorker -w 2 fastapi_app:app`."""

from common import infer
from fastapi import FastAPI, Request

app = FastAPI()


@app.post("/v2/models/digits/infer")
async def predict(request: Request) -> dict:
    return infer(await request.json())
