"""Models people ship, built from PyTorch's own modules: a Transformer encoder classifier, a
ResNet-style CNN made of basic blocks, an LSTM classifier, and a bag of embeddings. Shared by the
optimize tests and bench/optimize_bench.py; sizes are parameters so tests stay small."""

from __future__ import annotations

import torch
from torch import nn


class EncoderClassifier(nn.Module):
    """Token ids [batch, seq] -> nn.Embedding -> nn.TransformerEncoder -> mean -> class scores."""

    def __init__(self, vocab: int = 8000, width: int = 256, layers: int = 4, heads: int = 4, seq: int = 64,
                 classes: int = 10, feedforward: int | None = None) -> None:
        super().__init__()
        self.tokens = nn.Embedding(vocab, width)
        self.positions = nn.Parameter(torch.randn(1, seq, width) * 0.02)
        layer = nn.TransformerEncoderLayer(width, heads, feedforward or 4 * width, dropout=0.0, batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.head = nn.Linear(width, classes)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        h = self.encoder(self.tokens(ids) + self.positions[:, : ids.shape[1]])
        return self.head(h.mean(1))


class SelfAttentionPool(nn.Module):
    """nn.MultiheadAttention on its own (its fused fast path), then a Linear head."""

    def __init__(self, width: int = 64, heads: int = 4, classes: int = 5) -> None:
        super().__init__()
        self.attention = nn.MultiheadAttention(width, heads, batch_first=True)
        self.head = nn.Linear(width, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, _ = self.attention(x, x, x, need_weights=False)
        return self.head(h.mean(1))


class BasicBlock(nn.Module):
    """torchvision's ResNet basic block: conv-bn-relu-conv-bn plus the (projected) input."""

    def __init__(self, cin: int, cout: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.downsample = nn.Identity()
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = torch.relu(self.bn1(self.conv1(x)))
        return torch.relu(self.bn2(self.conv2(y)) + self.downsample(x))


class ResNetSmall(nn.Module):
    """A ResNet-style CNN: stem, four stages of basic blocks, global average pool, Linear."""

    def __init__(self, widths: tuple[int, ...] = (32, 64, 128, 256), classes: int = 10, channels: int = 1) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(channels, widths[0], 3, 1, 1, bias=False), nn.BatchNorm2d(widths[0]),
                                  nn.ReLU())
        blocks, cin = [], widths[0]
        for i, w in enumerate(widths):
            blocks.append(BasicBlock(cin, w, 1 if i == 0 else 2))
            cin = w
        self.blocks = nn.Sequential(*blocks)
        self.fc = nn.Linear(cin, classes)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.fc(self.blocks(self.stem(image)).mean((2, 3)))


class LSTMClassifier(nn.Module):
    """Sequences [batch, steps, features] -> nn.LSTM -> last step -> class scores."""

    def __init__(self, features: int = 8, hidden: int = 256, layers: int = 2, classes: int = 10) -> None:
        super().__init__()
        self.lstm = nn.LSTM(features, hidden, layers, batch_first=True)
        self.fc = nn.Linear(hidden, classes)

    def forward(self, seq: torch.Tensor) -> torch.Tensor:
        out, _ = self.lstm(seq)
        return self.fc(out[:, -1])


class EmbeddingMean(nn.Module):
    """Token ids -> nn.Embedding -> mean over the sequence: a lookup table and nothing else."""

    def __init__(self, vocab: int = 500, width: int = 32) -> None:
        super().__init__()
        self.table = nn.Embedding(vocab, width)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.table(ids).mean(1)


def randomize_batch_norms(model: nn.Module, seed: int = 0) -> nn.Module:
    """Running statistics and affine parameters away from their initial 0/1, so folding them
    is a real test (freshly built batch norms are the identity)."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.copy_(torch.rand(m.num_features, generator=gen) - 0.5)
                m.running_var.copy_(torch.rand(m.num_features, generator=gen) + 0.5)
                m.weight.copy_(torch.rand(m.num_features, generator=gen) + 0.5)
                m.bias.copy_(torch.rand(m.num_features, generator=gen) - 0.5)
    return model.eval()


def hf_bert_classifier(vocab: int = 1000, width: int = 64, layers: int = 2, seq: int = 32):
    """A Hugging Face BertForSequenceClassification built from a config (random weights)."""
    import transformers

    config = transformers.BertConfig(vocab_size=vocab, hidden_size=width, num_hidden_layers=layers,
                                     num_attention_heads=4, intermediate_size=2 * width,
                                     max_position_embeddings=seq, num_labels=3, torchscript=True)
    torch.manual_seed(0)
    return transformers.BertForSequenceClassification(config).eval()


class ImageLogits(nn.Module):
    """A Hugging Face image classifier (``torchscript=True`` config) as image -> logits."""

    def __init__(self, hf: nn.Module) -> None:
        super().__init__()
        self.hf = hf

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.hf(pixel_values=image)[0]


def traced_image_model(hf: nn.Module, images: torch.Tensor):
    """mlship.load of ImageLogits(hf), traced (its convolutions are aten::_convolution)."""
    import warnings

    import mlship

    with warnings.catch_warnings():  # transformers checks the channel count with a Python bool
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        return mlship.load(ImageLogits(hf).eval(), example_inputs=images[:1])
