"""LitServe peer: LitAPI with batching on (max_batch_size, batch_timeout), accelerator cpu,
workers_per_device=2 with one torch thread each (LitServe's docs: scale workers to the cores).
Request: {"data": [flat floats]} at POST /predict; answer {"output": [...]}."""

import litserve as ls
import torch

from peer_common import MAX_BATCH, PORT, load_model, rows
import os

WORKERS = int(os.environ.get("PEERS_WORKERS", "2"))


class Api(ls.LitAPI):
    def setup(self, device: str) -> None:
        self.model = load_model()

    def decode_request(self, request: dict) -> torch.Tensor:
        return rows(request["data"])

    def batch(self, inputs: list[torch.Tensor]) -> tuple[torch.Tensor, list[int]]:
        return torch.cat(inputs), [len(x) for x in inputs]

    def predict(self, batch):
        x, sizes = batch if isinstance(batch, tuple) else (batch, [len(batch)])
        with torch.inference_mode():
            return self.model(x), sizes

    def unbatch(self, output):
        y, sizes = output
        out, start = [], 0
        for n in sizes:
            out.append(y[start:start + n])
            start += n
        return out

    def encode_response(self, y) -> dict:
        if isinstance(y, tuple):
            y = y[0]
        return {"output": y.flatten().tolist()}


if __name__ == "__main__":
    api = Api(max_batch_size=MAX_BATCH, batch_timeout=0.005)
    ls.LitServer(api, accelerator="cpu", workers_per_device=WORKERS).run(port=PORT, host="127.0.0.1",
                                                                     generate_client_file=False)
