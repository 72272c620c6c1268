"""Bad input to mlship.evaluate: each a clear error naming what was expected and what came."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import mlship


class TwoOutputs(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = torch.nn.Linear(64, 10)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        logits = self.fc(x)
        return {"logits": logits, "probs": torch.softmax(logits, dim=1)}


@pytest.fixture(scope="module")
def two_outputs(digits):
    torch.manual_seed(0)
    return mlship.load(TwoOutputs().eval(), example_inputs=digits[1][:1])


def test_x_and_y_of_different_lengths(digits_model, digits):
    _, X, _, y = digits
    with pytest.raises(mlship.InvalidInputError, match=f"X has {len(X)} rows but y has {len(y) - 1}"):
        mlship.evaluate(digits_model, X, y[:-1])


def test_labels_the_model_cannot_produce(digits_model, digits):
    _, X, _, y = digits
    bad = y.copy()
    bad[[3, 9]] = [12, -1]
    with pytest.raises(mlship.InvalidInputError,
                       match=r"y holds labels \[-1, 12\] that the model cannot produce: its output gives 10 "
                             r"classes \(labels 0..9\)"):
        mlship.evaluate(digits_model, X, bad)


def test_fractional_labels_for_a_classifier(digits_model, digits):
    _, X, _, y = digits
    with pytest.raises(mlship.InvalidInputError, match="class indices.*non-integer values"):
        mlship.evaluate(digits_model, X, y + 0.5)


def test_several_outputs_need_output(two_outputs, digits):
    _, X, _, y = digits
    with pytest.raises(mlship.InvalidInputError,
                       match=r"the model has 2 outputs \(logits, probs\); choose the one to evaluate with "
                             r"output='logits'"):
        mlship.evaluate(two_outputs, X, y)
    by_name = mlship.evaluate(two_outputs, X, y, output="probs")
    by_position = mlship.evaluate(two_outputs, X, y, output=0)
    assert by_name.scores == "probabilities" and by_position.scores == "logits"
    assert by_name.metrics["accuracy"] == pytest.approx(by_position.metrics["accuracy"])
    with pytest.raises(mlship.InvalidInputError, match="output='scores' is not one of the model's outputs: logits, probs"):
        mlship.evaluate(two_outputs, X, y, output="scores")
    with pytest.raises(mlship.InvalidInputError, match="output=5 is out of range: the model has 2 output"):
        mlship.evaluate(two_outputs, X, y, output=5)


def test_non_numeric_data(digits_model, digits):
    _, X, _, y = digits
    with pytest.raises(mlship.InvalidInputError, match="X must be numeric .* got dtype <U"):
        mlship.evaluate(digits_model, X.astype(str), y)
    with pytest.raises(mlship.InvalidInputError, match="y must be numeric .* got dtype <U.*LabelEncoder"):
        mlship.evaluate(digits_model, X, np.array([f"digit {v}" for v in y]))
    with pytest.raises(mlship.InvalidInputError, match="X must be numeric .* got dtype object"):
        mlship.evaluate(digits_model, np.array([[0.0, "a"]] * len(y), dtype=object), y)


def test_wrong_feature_count_is_the_engine_error(digits_model, digits):
    _, X, _, y = digits
    with pytest.raises(mlship.InvalidInputError, match="expected shape"):
        mlship.evaluate(digits_model, X[:, :63], y)


def test_bad_options(digits_model, digits):
    _, X, _, y = digits
    with pytest.raises(ValueError, match="unknown metric.*'auc'.*supported: accuracy"):
        mlship.evaluate(digits_model, X, y, metrics=["auc"])
    with pytest.raises(ValueError, match="task must be 'classification' or 'regression'; got 'ranking'"):
        mlship.evaluate(digits_model, X, y, task="ranking")
    with pytest.raises(mlship.InvalidInputError, match="slice 'half' must hold one value per row"):
        mlship.evaluate(digits_model, X, y, slices={"half": np.ones(10, bool)})
    with pytest.raises(mlship.InvalidInputError, match="slice 'raw' has .* distinct values"):
        mlship.evaluate(digits_model, X, y, slices={"raw": np.arange(len(y))})
    with pytest.raises(ValueError, match="batch_size must be a positive integer; got 0"):
        mlship.evaluate(digits_model, X, y, batch_size=0)
    with pytest.raises(TypeError, match="expected an mlship.Model, an mlship.Deployment, a KServe v2 model URL"):
        mlship.evaluate(object(), X, y)


def test_regression_targets_must_match_the_output(digits_model, digits):
    _, X, _, y = digits
    with pytest.raises(mlship.InvalidInputError, match=r"y has shape \(\d+,\) but the model's output has shape "
                                                       r"\(\d+, 10\)"):
        mlship.evaluate(digits_model, X, y, task="regression")


def test_the_model_keeps_working_after_bad_input(digits_model, digits):
    _, X, _, y = digits
    with pytest.raises(mlship.InvalidInputError):
        mlship.evaluate(digits_model, X, y[:-1])
    assert mlship.evaluate(digits_model, X, y).metrics["accuracy"] > 0.85
