"""Triton through PyTriton (which bundles tritonserver): dynamic batching on
(max_batch_size, max_queue_delay), 2 model instances (one infer function each) of one torch
thread, as Triton's docs advise for CPU (instance_group count = cores). Request: KServe v2 JSON
at /v2/models/peer/infer."""

import os

import numpy as np
import torch
from pytriton.decorators import batch
from pytriton.model_config import DynamicBatcher, ModelConfig, Tensor
from pytriton.triton import Triton, TritonConfig

from peer_common import DTYPE, MAX_BATCH, PORT, ROW_SHAPE, load_model

INSTANCES = int(os.environ.get("PEERS_INSTANCES", "2"))


def make_infer():
    model = load_model()

    @batch
    def infer(x: np.ndarray):
        with torch.inference_mode():
            y = model(torch.from_numpy(x))
        return {"y": y.numpy()}

    return infer


if __name__ == "__main__":
    config = TritonConfig(http_address="127.0.0.1", http_port=PORT, grpc_address="127.0.0.1",
                          grpc_port=int(os.environ["PEERS_PORT2"]), metrics_port=int(os.environ["PEERS_PORT3"]))
    with Triton(config=config) as triton:
        triton.bind(model_name="peer", infer_func=[make_infer() for _ in range(INSTANCES)],
                    inputs=[Tensor(name="x", dtype=np.dtype(DTYPE), shape=ROW_SHAPE)],
                    outputs=[Tensor(name="y", dtype=np.float32, shape=(-1,))],
                    config=ModelConfig(max_batch_size=MAX_BATCH,
                                       batcher=DynamicBatcher(max_queue_delay_microseconds=5000)),
                    strict=False)
        triton.serve()
