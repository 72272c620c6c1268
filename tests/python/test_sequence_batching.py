"""Sequence batching (issue 22): a transformer encoder built from torch.nn, served with
requests of different lengths. Requests in one length bucket share batches, padded with each
input's pad value (the attention mask with 0), and every answer, cut back to its own length,
equals the model run on that request alone; over HTTP too; the declaration survives a save."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import torch
from http_helpers import request
from metrics_helpers import settled_metrics

import mlship

VOCAB, WIDTH, PAD = 500, 32, 0


class Encoder(torch.nn.Module):
    """Token ids and an attention mask (1 = real token) in; mean-pooled logits and the hidden
    states out. Padded positions are masked in attention and in the pooling."""

    def __init__(self) -> None:
        super().__init__()
        self.embed = torch.nn.Embedding(VOCAB, WIDTH, padding_idx=PAD)
        layer = torch.nn.TransformerEncoderLayer(WIDTH, 4, 64, batch_first=True, dropout=0.0)
        self.encoder = torch.nn.TransformerEncoder(layer, 2, enable_nested_tensor=False)
        self.head = torch.nn.Linear(WIDTH, 3)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> dict[str, torch.Tensor]:
        hidden = self.encoder(self.embed(input_ids), src_key_padding_mask=attention_mask == 0)
        weights = attention_mask.unsqueeze(-1).to(hidden.dtype)
        return {"logits": self.head((hidden * weights).sum(1) / weights.sum(1)), "hidden": hidden}


@pytest.fixture(scope="module")
def encoder() -> Encoder:
    torch.manual_seed(0)
    return Encoder().eval()


@pytest.fixture(scope="module")
def model(encoder) -> mlship.Model:
    example = (torch.randint(1, VOCAB, (1, 12)), torch.ones(1, 12, dtype=torch.int64))
    return mlship.load(encoder, example_inputs=example,
                       sequence=mlship.SequenceBatching(dim=1, pad={"input_ids": PAD}, bucket=16, max_length=48))


def requests_of(lengths: list[int], seed: int = 0) -> list[tuple[np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(seed)
    return [(rng.integers(1, VOCAB, (1, n)), np.ones((1, n), dtype=np.int64)) for n in lengths]


def alone(encoder, ids: np.ndarray, mask: np.ndarray) -> dict[str, np.ndarray]:
    with torch.no_grad():
        out = encoder(torch.from_numpy(ids), torch.from_numpy(mask))
    return {k: v.numpy() for k, v in out.items()}


def test_the_signature_declares_the_sequence_dimension_and_survives_a_save(model, tmp_path):
    sig = model.signature
    assert sig.sequence == mlship.SequenceBatching(dim=1, pad={"input_ids": PAD}, bucket=16, max_length=48)
    assert [s.shape for s in sig.inputs] == [(-1, -1), (-1, -1)]
    assert {s.name: s.shape for s in sig.outputs} == {"logits": (-1, 3), "hidden": (-1, -1, WIDTH)}
    path = str(tmp_path / "encoder.pt")
    model.save(path)
    assert mlship.load(path).signature == sig


def test_requests_of_many_lengths_share_batches_and_each_gets_its_own_answer(encoder, model):
    # Lengths 4..48 over three buckets; 48 concurrent callers, batches of up to 8.
    lengths = [4 + (i * 7) % 45 for i in range(48)]
    reqs = requests_of(lengths)
    got: list = [None] * len(reqs)
    with mlship.deploy(model, name="enc", max_batch_size=8, max_delay_ms=200) as dep:
        def call(i: int) -> None:
            got[i] = dep.predict(*reqs[i])

        threads = [threading.Thread(target=call, args=(i,)) for i in range(len(reqs))]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
        histogram = settled_metrics(dep, rows=len(reqs))["mlship_batch_size"]
    for (ids, mask), answer in zip(reqs, got):
        want = alone(encoder, ids, mask)
        assert answer["hidden"].shape == want["hidden"].shape, "cut back to its own length"
        np.testing.assert_allclose(answer["logits"], want["logits"], atol=1e-5)
        np.testing.assert_allclose(answer["hidden"], want["hidden"], atol=1e-5)
    assert histogram["sum"] == len(reqs)
    assert histogram["count"] < len(reqs) / 2, f"requests of different lengths were not batched: {histogram}"


def test_a_request_longer_than_max_length_runs_alone_and_mismatched_lengths_are_refused(encoder, model):
    with mlship.deploy(model, name="enc") as dep:
        (ids, mask), = requests_of([60])
        np.testing.assert_allclose(dep.predict(ids, mask)["logits"], alone(encoder, ids, mask)["logits"], atol=1e-5)
        with pytest.raises(mlship.InvalidInputError, match="'input_ids' has 5 and 'attention_mask' has 6"):
            dep.predict(np.ones((1, 5), dtype=np.int64), np.ones((1, 6), dtype=np.int64))
        assert dep.predict(ids[:, :9], mask[:, :9])["hidden"].shape == (1, 9, WIDTH)


def test_requests_of_different_lengths_over_http(encoder, model):
    reqs = requests_of([5, 13])
    with mlship.deploy(model, name="enc", port=0) as dep:
        for ids, mask in reqs:
            body = {"inputs": [{"name": "input_ids", "shape": list(ids.shape), "datatype": "INT64",
                                "data": ids.ravel().tolist()},
                               {"name": "attention_mask", "shape": list(mask.shape), "datatype": "INT64",
                                "data": mask.ravel().tolist()}]}
            status, answer, _ = request(dep.url, "POST", "/v2/models/enc/infer", body)
            assert status == 200, answer
            outputs = {o["name"]: o for o in answer["outputs"]}
            assert outputs["hidden"]["shape"] == [1, ids.shape[1], WIDTH]
            np.testing.assert_allclose(np.array(outputs["logits"]["data"]).reshape(1, 3),
                                       alone(encoder, ids, mask)["logits"], atol=1e-5)
