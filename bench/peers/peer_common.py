"""What the peer servers share: the TorchScript model and its row shape, from the environment
peers_bench.py sets (PEERS_MODEL, PEERS_ROW_SHAPE, PEERS_THREADS, PEERS_MAX_BATCH, PEERS_PORT)."""

from __future__ import annotations

import os

import torch

ROW_SHAPE = tuple(int(d) for d in os.environ.get("PEERS_ROW_SHAPE", "64").split(","))
THREADS = int(os.environ.get("PEERS_THREADS", "1"))
MAX_BATCH = int(os.environ.get("PEERS_MAX_BATCH", "32"))
PORT = int(os.environ.get("PEERS_PORT", "8000"))
DTYPE = os.environ.get("PEERS_DTYPE", "float32")  # or int64 (token ids)


def load_model() -> torch.jit.ScriptModule:
    torch.set_num_threads(THREADS)
    return torch.jit.load(os.environ["PEERS_MODEL"]).eval()


def rows(data: list) -> torch.Tensor:
    """A flat list of numbers -> [n, *ROW_SHAPE] of DTYPE."""
    x = torch.tensor(data, dtype=getattr(torch, DTYPE))
    return x.reshape(-1, *ROW_SHAPE)
