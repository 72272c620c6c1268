"""FastAPI baseline: `uvicorn fastapi_app:app --workers 2`."""

from common import infer
from fastapi import FastAPI, Request

app = FastAPI()


@app.post("/v2/models/digits/infer")
async def predict(request: Request) -> dict:
    return infer(await request.json())
