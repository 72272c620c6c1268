"""Probe, not a product path: what statically quantized convolutions would buy the ResNet-style CNN.

Issue 21's CNN target (batch-1 latency <= 0.6x fp32) is missed by every shipped candidate (best
0.97x). This script measures the technique that could meet it: batch norms folded, int8 weights
per output channel, and int8 activations end to end with fixed ranges from calibration data
(quantize once at the input, torch's quantized conv2d / conv2d_relu / add_relu inside, dequantize
before the pool). It is written in eager Python against the frozen fp32 model as mlship loads it.
The Python calls add per-op overhead that a TorchScript graph would not pay. Both quantized
engines are timed, since the issue asks to choose by measurement.

torch warns that its quantized tensor constructors (`torch.quantize_per_tensor`, `..._channel`)
are deprecated and will be removed. That is why this stays a probe: an int8 convolution that
lasts needs mlship's own kernel, as the int8 Linear has.

    python bench/static_int8_conv_probe.py
"""

from __future__ import annotations

import sys
import time
import warnings
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "python"))
import architectures  # noqa: E402

import mlship  # noqa: E402


def fold(conv: torch.nn.Conv2d, bn: torch.nn.BatchNorm2d) -> tuple[torch.Tensor, torch.Tensor]:
    scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
    return (conv.weight * scale[:, None, None, None]).detach(), (bn.bias - bn.running_mean * scale).detach()


class StaticInt8ResNet:
    """ResNetSmall with int8 activations end to end; ranges from `calibration`."""

    def __init__(self, net: architectures.ResNetSmall, calibration: torch.Tensor) -> None:
        self.net = net
        self.layers = [("stem", fold(net.stem[0], net.stem[1]), 1, 1)]
        for i, blk in enumerate(net.blocks):
            down = None if isinstance(blk.downsample, torch.nn.Identity) else fold(blk.downsample[0],
                                                                                  blk.downsample[1])
            self.layers.append((i, fold(blk.conv1, blk.bn1), fold(blk.conv2, blk.bn2), down, blk.conv1.stride[0]))
        self.ranges: dict[str, float] = {}
        with torch.no_grad():
            self._float(calibration)
        self.packed = [self._pack(*self.layers[0][1], 1, 1)]
        for i, c1, c2, down, stride in self.layers[1:]:
            self.packed.append((self._pack(*c1, stride, 1), self._pack(*c2, 1, 1),
                                None if down is None else self._pack(*down, stride, 0)))

    def _seen(self, name: str, t: torch.Tensor) -> torch.Tensor:
        self.ranges[name] = max(self.ranges.get(name, 0.0), float(t.abs().max()))
        return t

    def _float(self, x: torch.Tensor) -> None:
        conv = torch.nn.functional.conv2d
        x = self._seen("in", x)
        w, b = self.layers[0][1]
        x = self._seen("stem", torch.relu(conv(x, w, b, 1, 1)))
        for i, (w1, b1), (w2, b2), down, stride in self.layers[1:]:
            y = self._seen(f"{i}.1", torch.relu(conv(x, w1, b1, stride, 1)))
            z = self._seen(f"{i}.2", conv(y, w2, b2, 1, 1))
            d = x if down is None else self._seen(f"{i}.d", conv(x, down[0], down[1], stride, 0))
            x = self._seen(f"{i}.out", torch.relu(z + d))

    @staticmethod
    def _pack(w: torch.Tensor, b: torch.Tensor, stride: int, pad: int) -> object:
        scales = (w.abs().amax((1, 2, 3)) / 127).clamp(min=1e-8).double()
        qw = torch.quantize_per_channel(w, scales, torch.zeros(w.shape[0], dtype=torch.long), 0, torch.qint8)
        return torch.ops.quantized.conv2d_prepack(qw, b, [stride, stride], [pad, pad], [1, 1], 1)

    def _qparams(self, name: str, after_relu: bool) -> tuple[float, int]:
        # quint8: [0, range] after a ReLU, [-range, range] around 128 otherwise.
        return (self.ranges[name] / 255, 0) if after_relu else (self.ranges[name] / 127.5, 128)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        q = torch.quantize_per_tensor(x, *self._qparams("in", False), torch.quint8)
        q = torch.ops.quantized.conv2d_relu(q, self.packed[0], *self._qparams("stem", True))
        for (i, *_), (c1, c2, down) in zip(self.layers[1:], self.packed[1:]):
            y = torch.ops.quantized.conv2d_relu(q, c1, *self._qparams(f"{i}.1", True))
            z = torch.ops.quantized.conv2d(y, c2, *self._qparams(f"{i}.2", False))
            d = q if down is None else torch.ops.quantized.conv2d(q, down, *self._qparams(f"{i}.d", False))
            q = torch.ops.quantized.add_relu(z, d, *self._qparams(f"{i}.out", True))
        return self.net.fc(q.dequantize().mean((2, 3)))


def median_ms(fn, x, calls: int = 50, rounds: int = 7) -> float:
    return mlship._optimize.interleaved_ms([lambda: fn(x)], runs=calls * rounds, rounds=rounds)[0]


def main() -> None:
    warnings.simplefilter("ignore")  # torch's deprecation of quantized tensors, the point of the docstring
    torch.manual_seed(0)
    net = architectures.ResNetSmall(widths=(16, 32, 64, 128)).eval()
    calibration, x = torch.randn(64, 1, 64, 64), torch.randn(64, 1, 64, 64)
    fp32 = mlship.load(net, example_inputs=x[:1].numpy())
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; ResNetSmall(16-32-64-128), 64x64, "
          "fp32 = mlship.load's frozen graph")
    print(f"{'engine':<8}{'argmax agree':>14}{'b1 fp32 ms':>12}{'b1 int8 ms':>12}{'b1 x':>7}"
          f"{'b8 fp32 ms':>12}{'b8 int8 ms':>12}{'b8 x':>7}")
    for engine in ("fbgemm", "onednn"):
        if engine not in torch.backends.quantized.supported_engines:
            print(f"{engine:<8} not in this torch build")
            continue
        torch.backends.quantized.engine = engine
        with torch.no_grad():
            int8 = StaticInt8ResNet(net, calibration)
            agree = float((net(x).argmax(1) == int8(x).argmax(1)).float().mean())
            cells = []
            for b in (1, 8):
                a = median_ms(lambda v: fp32(v), x[:b].numpy())
                q = median_ms(int8, x[:b])
                cells += [f"{a:>12.3f}", f"{q:>12.3f}", f"{q / a:>6.2f}x"]
        print(f"{engine:<8}{agree:>14.3f}" + "".join(cells))


if __name__ == "__main__":
    main()
