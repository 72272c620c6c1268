"""Sequence batching benchmark: a transformer encoder served to requests whose lengths are
drawn from 8..128, with sequence batching (padded batches, length buckets of 16 and of 128)
against batching only equal lengths (the same model with the sequence dimension dynamic but no
sequence block: requests share a batch only when their lengths are equal), same run.

In process (``mlship.deploy``, no HTTP): 16 caller threads in a closed loop, each sending
one-row requests of a length drawn uniformly from 8..128, for a fixed time per setting; the
settings are measured in alternating rounds so the machine's noise falls on all. Printed:
requests/s, p50 and p99 latency, mean rows per forward pass, and ratios to the equal-length
baseline. The encoder: 4 layers, width 128, 4 heads, vocabulary 8k, mean-pooled head.

    python bench/seq_batch_bench.py [--seconds S] [--rounds R]
"""

from __future__ import annotations

import argparse
import statistics
import threading
import time

import numpy as np
import torch

import mlship

VOCAB = 8000
WIDTH, LAYERS = 128, 4  # --width / --layers
LENGTHS = (8, 128)
THREADS = 16


class Encoder(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.embed = torch.nn.Embedding(VOCAB, WIDTH, padding_idx=0)
        layer = torch.nn.TransformerEncoderLayer(WIDTH, 4, 4 * WIDTH, batch_first=True, dropout=0.0)
        self.encoder = torch.nn.TransformerEncoder(layer, LAYERS, enable_nested_tensor=False)
        self.head = torch.nn.Linear(WIDTH, 2)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        hidden = self.encoder(self.embed(input_ids), src_key_padding_mask=attention_mask == 0)
        weights = attention_mask.unsqueeze(-1).to(hidden.dtype)
        return self.head((hidden * weights).sum(1) / weights.sum(1))


def models() -> dict[str, mlship.Model]:
    torch.manual_seed(0)
    enc = Encoder().eval()
    example = (torch.randint(1, VOCAB, (1, 16)), torch.ones(1, 16, dtype=torch.int64))
    equal = mlship.load(enc, example_inputs=example,
                        sequence=mlship.SequenceBatching(dim=1, bucket=16, max_length=128))
    sig = equal.signature
    # The same dynamic signature without a sequence block: only equal lengths batch.
    plain = mlship.Signature(sig.inputs, sig.outputs, sig.output_kind)
    return {
        "equal lengths only": mlship.load(enc, example_inputs=example, signature=plain),
        "padded, buckets of 16": equal,
        "padded, one bucket": mlship.load(enc, example_inputs=example,
                                          signature=mlship.Signature(sig.inputs, sig.outputs, sig.output_kind,
                                                                     mlship.SequenceBatching(dim=1, bucket=128,
                                                                                             max_length=128))),
    }


def measure(model: mlship.Model, seconds: float) -> dict[str, float]:
    latencies: list[float] = []
    lock = threading.Lock()
    with mlship.deploy(model, name="enc", max_batch_size=16, max_delay_ms=2, tune=False) as dep:
        stop_at = time.monotonic() + seconds

        def caller(seed: int) -> None:
            rng = np.random.default_rng(seed)
            mine = []
            while time.monotonic() < stop_at:
                n = int(rng.integers(LENGTHS[0], LENGTHS[1] + 1))
                ids = rng.integers(1, VOCAB, (1, n))
                start = time.perf_counter()
                dep.predict(ids, np.ones((1, n), dtype=np.int64))
                mine.append(time.perf_counter() - start)
            with lock:
                latencies.extend(mine)

        threads = [threading.Thread(target=caller, args=(i,)) for i in range(THREADS)]
        began = time.monotonic()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.monotonic() - began
        histogram = dep.metrics()["mlship_batch_size"]
    latencies.sort()
    return {"rps": len(latencies) / elapsed, "p50": latencies[len(latencies) // 2] * 1e3,
            "p99": latencies[int(len(latencies) * 0.99)] * 1e3, "rows": histogram["sum"] / max(1, histogram["count"])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=6.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--width", type=int, default=WIDTH)
    parser.add_argument("--layers", type=int, default=LAYERS)
    args = parser.parse_args()
    globals().update(WIDTH=args.width, LAYERS=args.layers)
    settings = models()
    runs: dict[str, list[dict[str, float]]] = {name: [] for name in settings}
    for _ in range(args.rounds):
        for name, model in settings.items():
            runs[name].append(measure(model, args.seconds))
    med = {name: {k: statistics.median(r[k] for r in rs) for k in rs[0]} for name, rs in runs.items()}
    base = med["equal lengths only"]
    print(f"Transformer encoder ({LAYERS} layers, width {WIDTH}), lengths uniform in {LENGTHS[0]}..{LENGTHS[1]}, "
          f"{THREADS} in-process callers, max_batch_size 16; median of {args.rounds} rounds of {args.seconds:.0f} s\n")
    print(f"{'setting':<22} | {'req/s':>7} | {'÷ equal':>7} | {'p50 ms':>7} | {'p99 ms':>7} | {'p99 ÷ equal':>11} | "
          f"{'rows/pass':>9}")
    print("-" * 88)
    for name, m in med.items():
        print(f"{name:<22} | {m['rps']:>7.1f} | {m['rps'] / base['rps']:>6.2f}x | {m['p50']:>7.1f} | {m['p99']:>7.1f} | "
              f"{m['p99'] / base['p99']:>10.2f}x | {m['rows']:>9.2f}")


if __name__ == "__main__":
    main()
