"""mlship.quantize and mlship.fold on the architectures people ship, built from PyTorch's own
modules and from a Hugging Face config: what each pass reaches, how close the outputs stay to
fp32 (the tolerances docs/optimize.md states), and what each pass says it left alone."""

from __future__ import annotations


import numpy as np
import pytest
import torch

import architectures
import mlship

# docs/optimize.md, "Tolerances": the largest output difference from fp32, as a fraction of the
# largest fp32 output magnitude on the same inputs.
INT8_TOLERANCE = 0.05
HALF_TOLERANCE = 0.01
FOLD_TOLERANCE = 1e-4


def relative_error(out: np.ndarray, reference: np.ndarray) -> float:
    return float(np.max(np.abs(out - reference)) / np.max(np.abs(reference)))


def saved_size(model: mlship.Model, tmp_path, name: str) -> int:
    path = tmp_path / name
    model.save(str(path))
    return path.stat().st_size


@pytest.fixture(scope="module")
def encoder() -> tuple[mlship.Model, np.ndarray]:
    torch.manual_seed(0)
    net = architectures.EncoderClassifier(vocab=2000, width=64, layers=2, heads=4, seq=16).eval()
    ids = torch.randint(0, 2000, (64, 16))
    return mlship.load(net, example_inputs=ids[:2]), ids.numpy()


def test_int8_reaches_every_linear_of_a_transformer_encoder(encoder, tmp_path):
    model, ids = encoder
    small = mlship.quantize(model, "int8", timing_runs=3)
    report = small.optimization
    # 2 layers x (in-projection, out-projection, 2 feed-forward) + the head; and the token table.
    assert report["summary"].startswith("9 Linear layer(s) to int8")
    assert report["details"]["embeddings"].startswith("1 table(s)")
    assert report["details"]["fused attention replaced by its unfused code"].startswith(
        "2 aten::_transformer_encoder_layer_fwd")
    assert report["layers_changed"] == 10
    # Each Linear by the name of the parameter that holds its weight, in graph order: the two
    # layers' copies start equal, and each still gets its own name.
    names = [layer.rsplit(" ", 1)[0] for layer in report["details"]["Linear layers to int8 (out x in)"].split(", ")]
    assert names == [f"encoder.layers.{i}.{part}" for i in range(2)
                     for part in ("self_attn.in_proj_weight", "self_attn.out_proj", "linear1", "linear2")] + ["head"]
    reference = model(ids)
    assert relative_error(small(ids), reference) <= INT8_TOLERANCE
    assert np.mean(small(ids).argmax(1) == reference.argmax(1)) >= 0.9
    # Every fp32 weight matrix is gone from the file (no copy kept for the fused branch).
    assert saved_size(small, tmp_path, "int8.pt") <= 0.32 * saved_size(model, tmp_path, "fp32.pt")


def test_fp16_reaches_the_encoder_linears_too(encoder):
    model, ids = encoder
    half = mlship.quantize(model, "fp16", timing_runs=3)
    assert half.optimization["layers_changed"] == 9
    assert half.optimization["details"]["Linear layers to fp16 (out x in)"].endswith(", head 10x64")
    assert relative_error(half(ids), model(ids)) <= HALF_TOLERANCE


def test_int8_reaches_multihead_attention_used_on_its_own():
    torch.manual_seed(1)
    net = architectures.SelfAttentionPool(width=64, heads=4).eval()
    x = torch.randn(16, 10, 64)
    model = mlship.load(net, example_inputs=x[:2])
    small = mlship.quantize(model, "int8", timing_runs=3)
    assert small.optimization["layers_changed"] == 3  # in-projection, out-projection, head
    assert "aten::_native_multi_head_attention" in small.optimization["details"][
        "fused attention replaced by its unfused code"]
    assert relative_error(small(x.numpy()), model(x.numpy())) <= INT8_TOLERANCE


# transformers 5 warns of its own deprecations while it is traced; those are not ours to fix.
@pytest.mark.filterwarnings("ignore:.*is deprecated.*", "ignore::torch.jit.TracerWarning")
def test_int8_on_a_hugging_face_bert_from_its_config(tmp_path):
    net = architectures.hf_bert_classifier(vocab=1000, width=64, layers=2, seq=32)
    ids = torch.randint(0, 1000, (32, 32), generator=torch.Generator().manual_seed(2))
    model = mlship.load(net, example_inputs=ids[:2])
    small = mlship.quantize(model, "int8", timing_runs=3)
    # 2 layers x (query, key, value, attention output, intermediate, output) + pooler + classifier;
    # word, position and token-type tables.
    assert small.optimization["summary"].startswith("14 Linear layer(s) to int8")
    assert small.optimization["details"]["embeddings"].startswith("3 table(s)")
    # Each table by the name of the parameter that holds it.
    tables = small.optimization["details"]["embedding tables to int8 (rows x dim)"]
    assert "bert.embeddings.word_embeddings 1000x64" in tables, tables
    assert "bert.embeddings.position_embeddings " in tables and "bert.embeddings.token_type_embeddings " in tables
    assert relative_error(small(ids.numpy())["logits"], model(ids.numpy())["logits"]) <= INT8_TOLERANCE
    assert saved_size(small, tmp_path, "bert-int8.pt") <= 0.32 * saved_size(model, tmp_path, "bert.pt")


def test_int8_embedding_rows_are_within_half_a_step_of_fp32(tmp_path):
    torch.manual_seed(3)
    net = architectures.EmbeddingMean(vocab=2000, width=64).eval()
    ids = torch.randint(0, 2000, (40, 7))
    model = mlship.load(net, example_inputs=ids[:2])
    small = mlship.quantize(model, "int8", timing_runs=3)
    assert small.optimization["layers_changed"] == 1
    # Each looked-up element is within scale / 2 = max|row| / 254 of fp32, so their mean is too.
    step = net.table.weight.detach().abs().amax(1).max().item() / 127
    assert np.max(np.abs(small(ids.numpy()) - model(ids.numpy()))) <= step / 2 + 1e-6
    assert saved_size(small, tmp_path, "emb-int8.pt") <= 0.3 * saved_size(model, tmp_path, "emb.pt")


def test_int8_says_which_layers_it_left_in_fp32():
    torch.manual_seed(4)
    net = architectures.LSTMClassifier(features=8, hidden=32, layers=1).eval()
    net.lstm = torch.nn.RNN(8, 32, 1, batch_first=True).eval()  # a plain tanh RNN: no int8 kernel
    seq = torch.randn(8, 5, 8)
    model = mlship.load(net, example_inputs=seq[:2])
    small = mlship.quantize(model, "int8", timing_runs=3)
    assert small.optimization["layers_changed"] == 1  # the head only
    assert "1 aten::rnn_tanh" in small.optimization["details"]["left in fp32 (not supported by this pass)"]
    assert relative_error(small(seq.numpy()), model(seq.numpy())) <= INT8_TOLERANCE


RECURRENT = {
    "lstm": lambda: torch.nn.LSTM(8, 64, 2, batch_first=True),
    "gru": lambda: torch.nn.GRU(8, 64, 2, batch_first=True),
    "bidirectional-lstm": lambda: torch.nn.LSTM(8, 64, 2, batch_first=True, bidirectional=True),
}


class TimeMajorGRU(torch.nn.Module):
    """[batch, steps, features] in, through a GRU that takes [steps, batch, features], the
    final state of both directions out: h_n, not only the output sequence, is rewritten."""

    def __init__(self) -> None:
        super().__init__()
        self.gru = torch.nn.GRU(8, 24, 1, bidirectional=True)
        self.fc = torch.nn.Linear(48, 10)

    def forward(self, seq: torch.Tensor) -> torch.Tensor:
        _, h_n = self.gru(seq.transpose(0, 1))
        return self.fc(torch.cat([h_n[0], h_n[1]], 1))


@pytest.mark.parametrize("cell", [*RECURRENT, "time-major-gru"])
def test_int8_recurrent_layers(cell, tmp_path):
    torch.manual_seed(8)
    if cell == "time-major-gru":
        net = TimeMajorGRU().eval()
    else:
        net = architectures.LSTMClassifier(features=8, hidden=64, layers=2).eval()
        net.lstm = RECURRENT[cell]().eval()
        net.fc = torch.nn.Linear(net.lstm.hidden_size * (2 if net.lstm.bidirectional else 1), 10)
    seq = torch.randn(16, 6, 8)
    model = mlship.load(net, example_inputs=seq[:2])
    small = mlship.quantize(model, "int8", timing_runs=2)
    assert small.optimization["summary"].endswith("; 1 LSTM/GRU layer(s) to int8"), small.optimization["summary"]
    assert "left in fp32 (not supported by this pass)" not in small.optimization["details"]
    assert relative_error(small(seq.numpy()), model(seq.numpy())) <= INT8_TOLERANCE
    # A quarter of the weights' bytes, plus fp32 scales and biases (a row each: 1/features of
    # a layer) and the graph's code, which weigh more the smaller the model.
    size_x = saved_size(small, tmp_path, "int8.pt") / saved_size(model, tmp_path, "fp32.pt")
    assert size_x <= (0.6 if cell == "time-major-gru" else 0.35), size_x
    again = mlship.load(str(tmp_path / "int8.pt"))
    np.testing.assert_allclose(again(seq.numpy()), small(seq.numpy()), rtol=1e-6, atol=1e-6)


class ProjectedLSTM(torch.nn.Module):
    """nn.LSTM with proj_size (h is W_hr (o * tanh(c)), narrower than the cell), time-major or
    batch-first, reading the output sequence and the final cell state."""

    def __init__(self, layers: int, bidirectional: bool, batch_first: bool) -> None:
        super().__init__()
        self.batch_first = batch_first
        self.lstm = torch.nn.LSTM(8, 32, layers, batch_first=batch_first, proj_size=16, bidirectional=bidirectional)
        self.fc = torch.nn.Linear(16 * (2 if bidirectional else 1), 10)

    def forward(self, seq: torch.Tensor) -> torch.Tensor:
        out, (_, c_n) = self.lstm(seq if self.batch_first else seq.transpose(0, 1))
        last = out[:, -1] if self.batch_first else out[-1]
        return self.fc(last) + 0.1 * c_n.mean()


@pytest.mark.parametrize("layers,bidirectional,batch_first", [(1, False, True), (2, True, True), (2, True, False)])
def test_int8_lstm_with_projections(layers, bidirectional, batch_first, tmp_path):
    torch.manual_seed(9)
    net = ProjectedLSTM(layers, bidirectional, batch_first).eval()
    seq = torch.randn(8, 5, 8)
    model = mlship.load(net, example_inputs=seq[:2])
    small = mlship.quantize(model, "int8", timing_runs=2)
    assert small.optimization["summary"].endswith("; 1 LSTM/GRU layer(s) to int8"), small.optimization["summary"]
    assert "recurrent layers left in fp32" not in small.optimization["details"]
    assert "W_hr" in small.optimization["details"]["recurrent layers"]
    assert relative_error(small(seq.numpy()), model(seq.numpy())) <= INT8_TOLERANCE
    size_x = saved_size(small, tmp_path, "int8.pt") / saved_size(model, tmp_path, "fp32.pt")
    assert size_x <= 0.6, size_x
    again = mlship.load(str(tmp_path / "int8.pt"))
    np.testing.assert_allclose(again(seq.numpy()), small(seq.numpy()), rtol=1e-6, atol=1e-6)


class PackedClassifier(torch.nn.Module):
    """Padded sequences of different lengths through pack_padded_sequence (unsorted), an LSTM or
    GRU (2 layers, bidirectional) on the packed sequence, and the padded output read back."""

    def __init__(self, cell: str) -> None:
        super().__init__()
        kind = torch.nn.LSTM if cell == "lstm" else torch.nn.GRU
        self.rnn = kind(8, 24, 2, batch_first=True, bidirectional=True)
        self.fc = torch.nn.Linear(48 + 48, 10)

    def forward(self, seq: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        packed = torch.nn.utils.rnn.pack_padded_sequence(seq, lengths, batch_first=True, enforce_sorted=False)
        out, state = self.rnn(packed)
        h_n = state[0] if isinstance(state, tuple) else state
        padded, _ = torch.nn.utils.rnn.pad_packed_sequence(out, batch_first=True, total_length=seq.size(1))
        return self.fc(torch.cat([padded.mean(1), h_n[-2], h_n[-1]], 1)[:, :96])


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_int8_recurrent_layers_on_packed_sequences(cell, tmp_path):
    torch.manual_seed(11)
    net = PackedClassifier(cell).eval()
    seq = torch.randn(12, 7, 8)
    lengths = torch.tensor([7, 3, 5, 1, 7, 2, 6, 4, 4, 7, 2, 5])
    model = mlship.load(torch.jit.script(net), example_inputs=(seq[:2].numpy(), lengths[:2].numpy()))
    small = mlship.quantize(model, "int8", timing_runs=2)
    assert small.optimization["summary"].endswith("; 1 LSTM/GRU layer(s) to int8"), small.optimization["summary"]
    assert "recurrent layers left in fp32" not in small.optimization["details"]
    assert "left in fp32 (not supported by this pass)" not in small.optimization["details"], small.optimization
    inputs = (seq.numpy(), lengths.numpy())
    assert relative_error(small(*inputs), model(*inputs)) <= INT8_TOLERANCE
    # Padding past a sequence's length does not reach its result.
    padded = seq.clone()
    padded[1, 3:] = 100.0
    np.testing.assert_allclose(small(padded.numpy(), lengths.numpy())[1], small(*inputs)[1], rtol=1e-5, atol=1e-5)
    small.save(str(tmp_path / "int8.pt"))
    again = mlship.load(str(tmp_path / "int8.pt"))
    np.testing.assert_allclose(again(*inputs), small(*inputs), rtol=1e-6, atol=1e-6)


class TrainingModeLSTM(torch.nn.Module):
    """An LSTM called with its training flag set (torch.lstm's `train`), as a module that calls
    the functional form would; with no dropout it computes what eval mode does."""

    def __init__(self) -> None:
        super().__init__()
        self.lstm = torch.nn.LSTM(8, 16, 2, batch_first=True)
        self.fc = torch.nn.Linear(16, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h0 = torch.zeros(2, x.size(0), 16)
        out, _, _ = torch.lstm(x, (h0, h0), self.lstm._flat_weights, True, 2, 0.0, True, False, True)
        return self.fc(out[:, -1])


def test_int8_leaves_an_lstm_in_training_mode_in_fp32_and_says_why():
    torch.manual_seed(10)
    seq = torch.randn(6, 5, 8)
    model = mlship.load(torch.jit.script(TrainingModeLSTM().eval()), example_inputs=seq[:2])
    small = mlship.quantize(model, "int8", timing_runs=2)
    assert "training mode" in small.optimization["details"]["recurrent layers left in fp32"], small.optimization
    assert small.optimization["layers_changed"] == 1  # the head only
    assert relative_error(small(seq.numpy()), model(seq.numpy())) <= INT8_TOLERANCE


@pytest.mark.parametrize("prepack", ["never", "always"])
def test_fold_merges_every_batch_norm_of_a_resnet(prepack):
    torch.manual_seed(5)
    net = architectures.randomize_batch_norms(architectures.ResNetSmall(widths=(8, 16), classes=10))
    images = torch.randn(4, 1, 32, 32)
    model = mlship.load(net, example_inputs=images[:1])
    folded = mlship.fold(model, prepack=prepack, timing_runs=2)
    # stem, 2 per block, and the second block's projection shortcut.
    assert folded.optimization["details"]["batch norms folded"] == "6 of 6"
    assert ("prepacked" in folded.optimization["details"]["convolutions"]) == (prepack == "always")
    assert relative_error(folded(images.numpy()), model(images.numpy())) <= FOLD_TOLERANCE


def test_fold_keeps_a_batch_norm_that_follows_no_convolution():
    # After a ReLU, a batch norm has no convolution or Linear to fold into.
    net = torch.nn.Sequential(torch.nn.Linear(6, 4), torch.nn.ReLU(), torch.nn.BatchNorm1d(4)).eval()
    with torch.no_grad():
        net[2].running_mean.fill_(0.3)
    model = mlship.load(net, example_inputs=torch.randn(2, 6))
    folded = mlship.fold(model)
    assert folded.optimization["layers_changed"] == 0
    assert folded.optimization["summary"].startswith("nothing folded")
    assert folded.optimization["details"]["batch norms kept"].startswith("1 ")
    x = np.random.default_rng(0).standard_normal((3, 6)).astype(np.float32)
    np.testing.assert_allclose(folded(x), model(x), rtol=1e-6)


def test_fold_rejects_an_unknown_prepack_mode(encoder):
    with pytest.raises(ValueError, match="'auto', 'never', 'always'"):
        mlship.fold(encoder[0], prepack="sometimes")


def test_a_reloaded_optimized_model_keeps_its_report(encoder, tmp_path):
    model, ids = encoder
    small = mlship.quantize(model, "int8", mode="dynamic")
    path = tmp_path / "small.pt"
    small.save(str(path))
    again = mlship.load(str(path))
    assert again.optimization == small.optimization
    np.testing.assert_allclose(again(ids), small(ids), rtol=1e-5, atol=1e-6)
    model.save(str(tmp_path / "plain.pt"))
    assert mlship.load(str(tmp_path / "plain.pt")).optimization is None


def test_fp16_convolutions_of_a_resnet_after_folding():
    torch.manual_seed(6)
    net = architectures.randomize_batch_norms(architectures.ResNetSmall(widths=(8, 16), classes=10))
    images = torch.randn(4, 1, 32, 32)
    model = mlship.load(net, example_inputs=images[:1])
    half = mlship.quantize(model, "fp16", timing_runs=2)
    # stem, 2 per block, the projection shortcut; and the head.
    assert half.optimization["summary"].startswith("1 Linear layer(s), 6 convolution(s) with fp16 weights")
    assert "left in fp32 (not supported by this pass)" not in half.optimization["details"]
    assert relative_error(half(images.numpy()), model(images.numpy())) <= HALF_TOLERANCE


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_fp16_recurrent_layers(cell, tmp_path):
    torch.manual_seed(7)
    net = architectures.LSTMClassifier(features=8, hidden=64, layers=2).eval()
    if cell == "gru":
        net.lstm = torch.nn.GRU(8, 64, 2, batch_first=True).eval()
    seq = torch.randn(8, 6, 8)
    model = mlship.load(net, example_inputs=seq[:2])
    half = mlship.quantize(model, "fp16", timing_runs=2)
    assert half.optimization["summary"].startswith("1 Linear layer(s), 1 LSTM/GRU layer(s) with fp16 weights")
    assert "left in fp32 (not supported by this pass)" not in half.optimization["details"]
    assert relative_error(half(seq.numpy()), model(seq.numpy())) <= HALF_TOLERANCE
    assert saved_size(half, tmp_path, "half.pt") <= 0.55 * saved_size(model, tmp_path, "fp32.pt")


def dead_half(net: torch.nn.Module) -> torch.nn.Module:
    """Every batch norm's even channels scaled and shifted to 0: once folded, those channels of
    every convolution are dead, in every channel group."""
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, torch.nn.BatchNorm2d):  # Hugging Face's ResNet uses torch's too
                dead = torch.arange(0, m.num_features, 2)
                m.weight[dead] = 0
                m.bias[dead] = 0
    return net


def test_prune_removes_convolution_channels_by_group_across_residual_adds():
    """Channels joined by a residual add (the stem's, each block's output, the projection
    shortcut's) go together, up to the Linear that reads their global mean; each block's inner
    channels form their own group. With half of every group's channels dead, pruning half must
    remove exactly those and leave the outputs as they were."""
    torch.manual_seed(10)
    net = dead_half(architectures.randomize_batch_norms(architectures.ResNetSmall(widths=(8, 16), classes=10)))
    images = torch.randn(4, 1, 32, 32)
    model = mlship.load(net, example_inputs=images[:1])
    pruned = mlship.prune(model, amount=0.5)
    report = pruned.optimization
    # stem, block 1 (conv1, conv2), block 2 (conv1, conv2, projection); then the head.
    assert report["details"]["convolutions (out x in x kernel)"] == (
        "8x1x3x3 -> 4x1x3x3, 8x8x3x3 -> 4x4x3x3, 8x8x3x3 -> 4x4x3x3, 16x8x3x3 -> 8x4x3x3, "
        "16x16x3x3 -> 8x8x3x3, 16x8x1x1 -> 8x4x1x1")
    assert report["details"]["weights (out x in)"] == "10x16 -> 10x8"
    assert report["details"]["channels"] == "48 -> 24"
    assert report["summary"] == ("removed 24 of 48 channels in 6 of 6 convolutions "
                                 "(channels joined by a residual add are pruned together)")
    assert relative_error(pruned(images.numpy()), model(images.numpy())) <= FOLD_TOLERANCE


def test_prune_follows_the_residual_groups_of_a_hugging_face_resnet():
    """transformers' ResNet (basic blocks, built from its config): its pooler (adaptive average
    pool, flatten) and classifier are followed as well."""
    transformers = pytest.importorskip("transformers")
    config = transformers.ResNetConfig(num_channels=1, embedding_size=8, hidden_sizes=[8, 16], depths=[1, 1],
                                       layer_type="basic", num_labels=10, torchscript=True)
    torch.manual_seed(11)
    hf = dead_half(architectures.randomize_batch_norms(transformers.ResNetForImageClassification(config)))
    images = torch.randn(4, 1, 32, 32)
    model = architectures.traced_image_model(hf, images)  # traced: aten::_convolution
    pruned = mlship.prune(model, amount=0.5)
    report = pruned.optimization
    assert report["layers_changed"] == report["layers_seen"] - 1, report  # every convolution; the head keeps 10 rows
    assert report["details"]["weights (out x in)"] == "10x16 -> 10x8"
    assert relative_error(pruned(images.numpy()), model(images.numpy())) <= FOLD_TOLERANCE


def test_prune_leaves_grouped_convolutions_whole():
    net = torch.nn.Sequential(torch.nn.Conv2d(4, 8, 3, padding=1), torch.nn.ReLU(),
                              torch.nn.Conv2d(8, 8, 3, padding=1, groups=8), torch.nn.ReLU(),
                              torch.nn.Conv2d(8, 2, 1)).eval()
    images = torch.randn(2, 4, 8, 8)
    model = mlship.load(net, example_inputs=images[:1])
    pruned = mlship.prune(model, amount=0.5)
    # Only the depthwise convolution could pair with either neighbour, and it has groups.
    assert pruned.optimization["layers_changed"] == 0
    assert pruned.optimization["summary"].startswith("nothing to prune")


class Bag(torch.nn.Module):
    """nn.EmbeddingBag over token ids [batch, tokens] (each row one bag), with per-sample
    weights in sum mode."""

    def __init__(self, mode: str, padding_idx: int | None = None) -> None:
        super().__init__()
        self.bag = torch.nn.EmbeddingBag(3000, 32, mode=mode, padding_idx=padding_idx)

    def forward(self, ids: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        if self.bag.mode == "sum":
            return self.bag(ids, per_sample_weights=weights)
        return self.bag(ids)


@pytest.mark.parametrize("mode", ["sum", "mean", "max"])
def test_int8_embedding_bags(mode, tmp_path):
    torch.manual_seed(12)
    net = Bag(mode).eval()
    ids, weights = torch.randint(0, 3000, (6, 8)), torch.rand(6, 8)
    model = mlship.load(net, example_inputs=(ids[:2], weights[:2]))
    small = mlship.quantize(model, "int8", timing_runs=2)
    assert small.optimization["summary"].endswith("1 embedding bag(s) to int8 (row-wise scales)"), small.optimization
    assert small.optimization["details"]["embedding bags to int8 (rows x dim)"] == "bag 3000x32"
    out, reference = small(ids.numpy(), weights.numpy()), model(ids.numpy(), weights.numpy())
    # Each row is within max|row| / 254 per element; a bag sums 8 rows (weights <= 1).
    step = net.bag.weight.detach().abs().amax(1).max().item() / 127
    assert np.max(np.abs(out - reference)) <= (8 if mode == "sum" else 1) * step / 2 + 1e-6
    assert saved_size(small, tmp_path, "bag-int8.pt") <= 0.3 * saved_size(model, tmp_path, "bag.pt")


def test_int8_leaves_an_embedding_bag_with_padding_in_fp32_and_says_why():
    net = Bag("mean", padding_idx=0).eval()
    ids, weights = torch.randint(0, 3000, (2, 6)), torch.rand(2, 6)
    model = mlship.load(net, example_inputs=(ids, weights))
    small = mlship.quantize(model, "int8", timing_runs=2)
    assert small.optimization["details"]["embedding bags left in fp32"] == "aten::embedding_bag: it has a padding_idx"
    assert small.optimization["layers_changed"] == 0
