"""mlship.export_pt2: torch.export + AOTInductor packaging with a dynamic batch dimension."""

from __future__ import annotations

import inspect
import json
import os
import warnings
from typing import Any

from mlship import _core
from mlship._errors import ModelLoadError
from mlship._load import _as_tuple, _to_torch


def export_pt2(module: Any, example_inputs: Any, path: str | os.PathLike[str], *, max_batch: int = 4096) -> str:
    """Compiles ``module`` to a CPU ``.pt2`` package that :func:`mlship.load` opens.

    Dimension 0 of every input is exported as dynamic (1..``max_batch``); the
    signature, with the ``forward`` argument names, is saved beside the package
    as ``<path>.signature.json``. Compiling takes tens of seconds.

    Examples
    --------
    >>> import torch, mlship
    >>> path = mlship.export_pt2(torch.nn.Linear(8, 2), torch.randn(2, 8), "/tmp/linear.pt2")  # doctest: +SKIP
    >>> mlship.load(path).signature.inputs  # doctest: +SKIP
    [TensorSpec('input', 'FP32', (-1, 8))]
    """
    import torch

    examples = tuple(_to_torch(x) for x in _as_tuple(example_inputs))
    if not examples:
        raise ValueError("export_pt2 needs example_inputs, one per forward() argument")
    path = os.fspath(path)
    module = module.eval()
    batch = torch.export.Dim("batch", min=1, max=max_batch)
    dynamic = tuple({0: batch} if x.dim() > 0 else None for x in examples)
    # A batch of 1 would make export specialize the batch dimension to 1.
    traced_examples = tuple(x.repeat(2, *([1] * (x.dim() - 1))) if x.dim() > 0 and x.shape[0] == 1 else x
                            for x in examples)
    try:
        # torch.export relies on its internal warnings staying warnings: under a
        # caller's "-W error" (pytest's filterwarnings=error included) nn.LSTM
        # export fails. Torch's compile-time warnings are not the caller's to act on.
        with warnings.catch_warnings(), torch.inference_mode(False), torch.no_grad():
            warnings.simplefilter("ignore")
            program = torch.export.export(module, traced_examples, dynamic_shapes=dynamic)
            # Without this, compiled code checks that dynamic dims are >= 2
            # (export's 0/1 specialization) and rejects batch-1 requests.
            torch._inductor.aoti_compile_and_package(
                program, package_path=path, inductor_configs={"aot_inductor.check_lowerbound": False}
            )
    except Exception as e:  # noqa: BLE001 - export raises many kinds
        raise ModelLoadError(f"torch.export/AOTInductor could not compile {type(module).__name__}: {e}") from None
    core = _core.load_file(path, None, list(examples), 0, True, 1)
    sig = json.loads(core.signature_json)
    names = [p for p in inspect.signature(module.forward).parameters][: len(sig["inputs"])]
    for spec, name in zip(sig["inputs"], names):
        spec["name"] = name
    with open(path + ".signature.json", "w", encoding="utf-8") as f:
        json.dump(sig, f)
    return path
