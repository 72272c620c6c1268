"""BentoML peer: a service with workers=2 (one per core, one torch thread each) and adaptive
batching on (@bentoml.api(batchable=True, max_batch_size, max_latency_ms)).
`bentoml serve bento_server:Peer`. Request: {"x": nested list [1, *row]} at POST /predict."""

import bentoml
import numpy as np
import torch

from peer_common import DTYPE, MAX_BATCH, load_model


@bentoml.service(workers=2, traffic={"timeout": 60})
class Peer:
    def __init__(self) -> None:
        self.model = load_model()

    @bentoml.api(batchable=True, max_batch_size=MAX_BATCH, max_latency_ms=1000)
    def predict(self, x: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            return self.model(torch.from_numpy(np.asarray(x, dtype=DTYPE))).numpy()
