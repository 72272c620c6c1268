"""Fixtures: trained models and their inputs, shared by every test module."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch

sys.path.insert(0, str(Path(__file__).parent))

import models  # noqa: E402

import mlship  # noqa: E402


@pytest.fixture(scope="session")
def digits() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    return models.digits_split()


@pytest.fixture(scope="session")
def mlp(digits) -> torch.nn.Module:
    X_train, _, y_train, _ = digits
    return models.train(models.DigitsMLP(), X_train, y_train, epochs=15)


@pytest.fixture(scope="session")
def zoo(digits, mlp) -> dict[str, tuple[torch.nn.Module, tuple[torch.Tensor, ...]]]:
    """name -> (trained eager module, inputs for 32 test rows)."""
    X_train, X_test, y_train, _ = digits
    x = torch.from_numpy(X_test[:32])
    cnn = models.train(models.DigitsCNN(), X_train, y_train, epochs=3, reshape=models.as_image)
    lstm = models.train(models.DigitsLSTM(), X_train, y_train, epochs=3, reshape=models.as_sequence)
    two = models.TwoInputDict().eval()
    scale = torch.rand(32, 1) + 0.5
    return {
        "mlp": (mlp, (x,)),
        "cnn": (cnn, (models.as_image(x),)),
        "lstm": (lstm, (models.as_sequence(x),)),
        "two_input_dict": (two, (x, scale)),
    }


@pytest.fixture(scope="session")
def pt2_zoo(zoo, tmp_path_factory) -> dict[str, str]:
    """name -> path of an AOTInductor .pt2 package (compiling takes ~30 s each)."""
    root = tmp_path_factory.mktemp("pt2")
    paths = {}
    for name, (module, inputs) in zoo.items():
        paths[name] = mlship.export_pt2(module, tuple(t[:4] for t in inputs), root / f"{name}.pt2")
    return paths


@pytest.fixture(scope="session")
def digits_model(mlp, digits) -> mlship.Model:
    """The digits MLP loaded into mlship (scores are logits over 10 classes)."""
    return mlship.load(mlp, example_inputs=digits[1][:1])


@pytest.fixture(scope="session")
def weak_model(digits) -> mlship.Model:
    """A clearly worse digits classifier: the same MLP trained on 60 rows for one epoch."""
    X_train, X_test, y_train, _ = digits
    net = models.train(models.DigitsMLP(), X_train[:60], y_train[:60], epochs=1)
    return mlship.load(net, example_inputs=X_test[:1])
