"""Ray Serve peer: one deployment with @serve.batch (Ray Serve's dynamic batching guide),
max_ongoing_requests (default 5) raised to 128, above max_batch_size and the highest client
concurrency, so that batches fill and the router does not back off; one replica of one torch
thread, leaving the other core to Ray's HTTP proxy and controller (with 2 torch threads, or 2
replicas, they fight over 2 cores: c32 on the encoder read 43 req/s with 2 threads and
max_ongoing_requests=2B, 183 with this). Request: {"data": [flat floats]} at POST /predict;
answer {"output": [...]}."""

import time

import ray
import torch
from ray import serve
from starlette.requests import Request

from peer_common import MAX_BATCH, PORT, THREADS, load_model, rows


@serve.deployment(num_replicas=1, max_ongoing_requests=128, ray_actor_options={"num_cpus": 0})
class Model:
    def __init__(self) -> None:
        self.model = load_model()

    @serve.batch(max_batch_size=MAX_BATCH, batch_wait_timeout_s=0.005)
    async def run(self, xs: list[torch.Tensor]) -> list[list[float]]:
        sizes = [len(x) for x in xs]
        with torch.inference_mode():
            y = self.model(torch.cat(xs))
        out, start = [], 0
        for n in sizes:
            out.append(y[start:start + n].flatten().tolist())
            start += n
        return out

    async def __call__(self, request: Request) -> dict:
        body = await request.json()
        return {"output": await self.run(rows(body["data"]))}


if __name__ == "__main__":
    ray.init(num_cpus=THREADS, include_dashboard=False, log_to_driver=False)
    serve.start(http_options={"host": "127.0.0.1", "port": PORT})
    serve.run(Model.bind(), route_prefix="/predict", name="peer")
    print("serving", flush=True)
    while True:
        time.sleep(3600)
