"""mlship.explain: attributions computed by the C++ engine (see docs/explain.md)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from mlship import _core
from mlship._errors import InvalidInputError, UnsupportedMethodError

METHODS = ("saliency", "input_x_gradient", "integrated_gradients", "occlusion", "kernel_shap")


@dataclass(frozen=True)
class Explanation:
    """What :func:`mlship.explain` returns.

    Attributes
    ----------
    method
        The method that ran.
    attributions
        One array per model input, shaped like it: how much each element moved the target.
    outputs
        The model's outputs on the inputs, structured like ``model(*inputs)``.
    target
        The output column explained for each row (int64, one per row).
    delta
        Per row: for integrated gradients the completeness delta
        ``sum(attributions) - (f(x) - f(baseline))`` (Captum's convergence delta); for
        KernelSHAP ``sum(attributions) - (f(x) - E f(background))`` (~0 by construction);
        None for the other methods.
    evaluations
        Input rows the model was run on (the cost).
    """

    method: str
    attributions: tuple[Any, ...]
    outputs: Any
    target: np.ndarray
    delta: np.ndarray | None
    evaluations: int

    @property
    def attribution(self) -> Any:
        """The attributions of the first (often the only) input."""
        return self.attributions[0]


def supported_methods(model: Any) -> tuple[list[str], str]:
    """The methods ``model`` supports and, when gradient methods are missing, why."""
    names, reason = _core.explain_support(model._core)
    return list(names), reason


def _check_method(model: Any, method: str) -> None:
    if method not in METHODS:
        known = ", ".join(METHODS)
        raise InvalidInputError(f"unknown explanation method {method!r}; expected one of {known}")
    names, reason = supported_methods(model)
    if method not in names:
        raise UnsupportedMethodError(
            f"method '{method}' needs gradients, and this model has none: {reason}; "
            f"it supports {', '.join(names)}"
        )


def targets_list(target: Any) -> list[int]:
    """``target`` as the engine takes it: [] for the predicted class, else one or one per row."""
    if target is None or (isinstance(target, str) and target == "predicted"):
        return []
    if isinstance(target, str):
        raise InvalidInputError(
            f"target must be a class/output index, a list of them, or 'predicted'; got {target!r}"
        )
    if isinstance(target, (bool, np.bool_)):
        raise InvalidInputError(f"target must be an integer index; got {target!r}")
    if isinstance(target, (int, np.integer)):
        return [int(target)]
    values = np.asarray(target)
    if values.ndim != 1 or not np.issubdtype(values.dtype, np.integer):
        raise InvalidInputError(f"target must be an index or a 1-d list of integer indices; got {target!r}")
    return [int(v) for v in values]


def _as_array(x: Any, dtype: Any, what: str) -> np.ndarray:
    if hasattr(x, "detach"):  # a torch tensor
        x = x.detach().cpu().numpy()
    try:
        return np.ascontiguousarray(np.asarray(x, dtype=dtype))
    except (TypeError, ValueError) as e:
        raise InvalidInputError(
            f"{what} must be numbers convertible to {np.dtype(dtype)}; got {type(x).__name__} ({e})"
        ) from None


def baselines_list(baseline: Any, specs: Sequence[Any]) -> list[np.ndarray] | None:
    """``baseline`` as one array per input (None: zeros)."""
    if baseline is None:
        return None
    listed = isinstance(baseline, (list, tuple))
    already_listed = listed and len(baseline) == 1 and hasattr(baseline[0], "shape")
    if len(specs) == 1 and not already_listed:
        baseline = [baseline]
    if not isinstance(baseline, (list, tuple)) or len(baseline) != len(specs):
        raise InvalidInputError(
            f"expected one baseline per input ({len(specs)}); got {type(baseline).__name__}"
        )
    return [_as_array(b, s.numpy_dtype or np.float32, f"baseline for input '{s.name}'")
            for b, s in zip(baseline, specs)]


def output_index(output: int | str, signature: Any) -> int:
    names = [o.name for o in signature.outputs]
    if isinstance(output, str):
        if output not in names:
            raise InvalidInputError(f"no output named {output!r}; the model's outputs are {', '.join(names)}")
        return names.index(output)
    return int(output)


def explain(
    model: Any,
    *inputs: Any,
    method: str = "integrated_gradients",
    target: Any = None,
    baseline: Any = None,
    steps: int = 32,
    samples: int | None = None,
    window: int = 1,
    output: int | str = 0,
    seed: int = 0,
) -> Explanation:
    """Attributes a model's output to each element of its inputs, in the C++ engine.

    Parameters
    ----------
    model
        An :class:`mlship.Model` (a :class:`mlship.Deployment` has :meth:`~mlship.Deployment.explain`).
    *inputs
        One batch, one argument per model input, as for ``model(*inputs)``.
    method
        ``"integrated_gradients"`` (default), ``"saliency"`` (absolute gradient),
        ``"input_x_gradient"``: gradient methods, TorchScript models only;
        ``"occlusion"``, ``"kernel_shap"``: forward passes only, every model.
    target
        The output column explained: ``None``/``"predicted"`` (the argmax for classifiers,
        column 0 for single-valued outputs), an index, or one index per row.
    baseline
        Gradient methods and occlusion: the reference input (one row or the whole batch),
        zeros by default. KernelSHAP: background rows ``[B, ...]``, zeros by default.
        One per input for several inputs.
    steps
        Integrated gradients: points on the path (Gauss-Legendre, like Captum), 1..1024.
    samples
        KernelSHAP: coalitions per row; None means shap's default ``2 * features + 2048``.
    window
        Occlusion: edge of the square window over the last two dimensions (stride = window).
    output
        Which model output is explained, by index or name.
    seed
        KernelSHAP's sampling seed.

    Raises
    ------
    mlship.InvalidInputError
        An unknown method, a target out of range, a baseline of the wrong shape, steps or
        samples out of range, inputs that do not match the signature.
    mlship.UnsupportedMethodError
        A gradient method on a model without gradients (``.pt2``, int8-quantized).

    Examples
    --------
    >>> import numpy as np, torch, mlship
    >>> net = torch.nn.Sequential(torch.nn.Linear(4, 3))
    >>> model = mlship.load(net, example_inputs=torch.zeros(1, 4))
    >>> e = mlship.explain(model, np.ones((2, 4), np.float32), method="integrated_gradients")
    >>> e.attribution.shape, bool(abs(e.delta).max() < 1e-4)
    ((2, 4), True)
    """
    from mlship._model import Model

    if not isinstance(model, Model):
        raise TypeError(
            f"mlship.explain takes an mlship.Model; got {type(model).__name__} "
            "(load it first: mlship.load(net, example_inputs=x))"
        )
    _check_method(model, method)
    prepared, as_torch = model._prepare(inputs)
    result = _core.explain(
        model._core,
        prepared,
        method,
        targets_list(target),
        baselines_list(baseline, model.signature.inputs),
        int(steps),
        int(samples or 0),
        int(window),
        output_index(output, model.signature),
        int(seed),
        0,
    )
    return make_explanation(method, result, model._structure, as_torch)


def make_explanation(method: str, result: dict[str, Any], structure: Any, as_torch: bool) -> Explanation:
    attributions = tuple(result["attributions"])
    outputs = tuple(result["outputs"])
    if as_torch:
        import torch

        attributions = tuple(torch.from_numpy(np.array(a)) for a in attributions)
        outputs = tuple(torch.from_numpy(np.array(o)) for o in outputs)
    return Explanation(
        method=method,
        attributions=attributions,
        outputs=structure(outputs),
        target=np.asarray(result["targets"]),
        delta=None if result["delta"] is None else np.asarray(result["delta"]),
        evaluations=int(result["evaluations"]),
    )
