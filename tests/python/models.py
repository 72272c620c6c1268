"""Small models used by the tests, the benchmark and the demo, trained on scikit-learn's bundled digits."""

from __future__ import annotations

import numpy as np
import torch
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split


def digits_split(seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Digits features scaled to [0, 1] as float32, labels as int64: X_train, X_test, y_train, y_test."""
    data = load_digits()
    X = (data.data / 16.0).astype(np.float32)
    y = data.target.astype(np.int64)
    return train_test_split(X, y, test_size=0.25, random_state=seed, stratify=y)


class DigitsMLP(torch.nn.Module):
    """64-256-256-10, the model every issue's benchmark uses."""

    def __init__(self, hidden: int = 256) -> None:
        super().__init__()
        self.net = torch.nn.Sequential(
            torch.nn.Linear(64, hidden), torch.nn.ReLU(), torch.nn.Linear(hidden, hidden), torch.nn.ReLU(),
            torch.nn.Linear(hidden, 10),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class DigitsCNN(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv1 = torch.nn.Conv2d(1, 8, 3, padding=1)
        self.bn = torch.nn.BatchNorm2d(8)
        self.conv2 = torch.nn.Conv2d(8, 16, 3, padding=1)
        self.fc = torch.nn.Linear(16 * 4 * 4, 10)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        h = torch.relu(self.bn(self.conv1(image)))
        h = torch.nn.functional.max_pool2d(torch.relu(self.conv2(h)), 2)
        return self.fc(h.flatten(1))


class DigitsLSTM(torch.nn.Module):
    """Reads an 8x8 digit as 8 time steps of 8 features."""

    def __init__(self) -> None:
        super().__init__()
        self.lstm = torch.nn.LSTM(8, 32, batch_first=True)
        self.fc = torch.nn.Linear(32, 10)

    def forward(self, seq: torch.Tensor) -> torch.Tensor:
        out, _ = self.lstm(seq)
        return self.fc(out[:, -1])


class TwoInputDict(torch.nn.Module):
    """Two inputs (features and a per-row scale) and a dict output."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = torch.nn.Linear(64, 10)

    def forward(self, x: torch.Tensor, scale: torch.Tensor) -> dict[str, torch.Tensor]:
        logits = self.fc(x) * scale
        return {"logits": logits, "probs": torch.softmax(logits, dim=1)}


class SpinEcho(torch.nn.Module):
    """y = x; with x[0, 0] = n > 0 it first spins n times (a request that holds a worker: with
    n = 1e9, for many minutes). Script it (torch.jit.script) so the loop stays in the model."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = x
        for _ in range(int(x[0, 0].item())):
            y = y + 0.0
        return y


def train(model: torch.nn.Module, X: np.ndarray, y: np.ndarray, *, epochs: int = 30, reshape=None, seed: int = 0,
          lr: float = 1e-2) -> torch.nn.Module:
    """A few epochs of Adam; enough for >90% accuracy on digits in a second or two."""
    torch.manual_seed(seed)
    xt, yt = torch.from_numpy(X), torch.from_numpy(y)
    if reshape is not None:
        xt = reshape(xt)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    gen = torch.Generator().manual_seed(seed)
    model.train()
    for _ in range(epochs):
        for idx in torch.randperm(len(xt), generator=gen).split(64):
            opt.zero_grad()
            torch.nn.functional.cross_entropy(model(xt[idx]), yt[idx]).backward()
            opt.step()
    return model.eval()


def as_image(x: torch.Tensor) -> torch.Tensor:
    return x.reshape(-1, 1, 8, 8)


def as_sequence(x: torch.Tensor) -> torch.Tensor:
    return x.reshape(-1, 8, 8)


def fixed_linear(weight: torch.Tensor, bias: float = 0.0) -> torch.nn.Linear:
    """A Linear(len(weight), 1) with the given weights: a regression model that needs no training."""
    net = torch.nn.Linear(weight.numel(), 1)
    with torch.no_grad():
        net.weight.copy_(weight.reshape(1, -1))
        net.bias.fill_(bias)
    return net.eval()
