"""KServe v2 JSON tensors in Python, for front ends that are not mlship's own HTTP server (Ray Serve).

mlship's server decodes requests in C++; a Ray Serve replica receives the request body in
Python, so this turns a v2 JSON request into numpy arrays and results back into a v2 response.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from mlship._errors import InvalidInputError
from mlship._signature import _NUMPY_DTYPES


def decode_inputs(body: Any) -> list[np.ndarray]:
    """The ``inputs`` of a v2 infer request, in request order; raises InvalidInputError naming the problem."""
    if not isinstance(body, dict) or not isinstance(body.get("inputs"), list) or not body["inputs"]:
        raise InvalidInputError('expected a KServe v2 infer request: {"inputs": [{"name", "shape", "datatype", '
                                '"data"}, ...]}')
    arrays = []
    for i, tensor in enumerate(body["inputs"]):
        name = tensor.get("name", f"#{i}") if isinstance(tensor, dict) else f"#{i}"
        if not isinstance(tensor, dict) or not {"shape", "datatype", "data"} <= set(tensor):
            raise InvalidInputError(f"input {name}: needs shape, datatype and data")
        dtype = _NUMPY_DTYPES.get(tensor["datatype"])
        if dtype is None:
            raise InvalidInputError(f"input {name}: datatype {tensor['datatype']!r} is not one of "
                                    f"{', '.join(k for k, v in _NUMPY_DTYPES.items() if v is not None)}")
        try:
            arrays.append(np.asarray(tensor["data"], dtype=dtype).reshape(tensor["shape"]))
        except (ValueError, TypeError) as e:
            raise InvalidInputError(f"input {name}: data does not fit shape {tensor['shape']}: {e}") from None
    return arrays


def _datatype(array: np.ndarray) -> str:
    for name, dtype in _NUMPY_DTYPES.items():
        if dtype is not None and array.dtype == dtype:
            return name
    raise InvalidInputError(f"cannot send dtype {array.dtype} in KServe v2 JSON")


def encode_outputs(model_name: str, result: Any, names: list[str] | None = None) -> dict[str, Any]:
    """A v2 infer response for ``result`` (an array, or a tuple/list/dict of them)."""
    if isinstance(result, dict):
        named = list(result.items())
    else:
        arrays = list(result) if isinstance(result, (tuple, list)) else [result]
        labels = names if names and len(names) == len(arrays) else [f"output_{i}" for i in range(len(arrays))]
        named = list(zip(labels, arrays))
    outputs = []
    for name, value in named:
        array = np.asarray(value)
        outputs.append({"name": name, "datatype": _datatype(array), "shape": list(array.shape),
                        "data": array.ravel().tolist()})
    return {"model_name": model_name, "outputs": outputs}
