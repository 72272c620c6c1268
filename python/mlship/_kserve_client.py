"""A minimal KServe v2 (Open Inference Protocol) HTTP client for mlship.evaluate.

Written on urllib and json rather than on ``tritonclient[http]``: evaluation needs two calls
(model metadata and infer, JSON encoding), and tritonclient would add gevent,
geventhttpclient and their C extensions to mlship's runtime dependencies for them.
Responses are read up to a bound, and errors map to mlship's exception classes by HTTP status.
"""

from __future__ import annotations

import json
import os
import re
import urllib.error
import urllib.request
from typing import Any

import numpy as np

from mlship import _errors
from mlship._signature import _NUMPY_DTYPES

#: Largest response body read, in bytes (a 256-row batch of 1000 FP32 scores is ~3 MB of JSON).
MAX_RESPONSE_BYTES = 256 * 1024 * 1024

_MODEL_URL = re.compile(r"^(https?)://[^/\s]+/v2/models/[^/\s]+(/versions/[^/\s]+)?/?$")

_ERRORS_BY_STATUS: dict[int, type[_errors.MlshipError]] = {
    400: _errors.InvalidInputError,
    401: _errors.UnauthenticatedError,
    403: _errors.UnauthenticatedError,
    404: _errors.NotFoundError,
    409: _errors.FailedPreconditionError,
    413: _errors.ResourceExhaustedError,
    503: _errors.OverloadedError,
    504: _errors.DeadlineExceededError,
}


def is_model_url(source: Any) -> bool:
    """Whether ``source`` is a string that looks like an HTTP(S) URL."""
    return isinstance(source, str) and source.lower().startswith(("http://", "https://"))


class KServeClient:
    """Talks to one model of a KServe v2 server (mlship's, Triton, KServe, ...).

    Parameters
    ----------
    url : str
        The model's URL: ``http://host:port/v2/models/NAME`` or ``.../versions/VERSION``.
    token : str, optional
        Sent as ``Authorization: Bearer <token>``; default: the ``MLSHIP_TOKEN`` environment variable.
    timeout : float
        Seconds to wait for each response.
    """

    def __init__(self, url: str, *, token: str | None = None, timeout: float = 60.0) -> None:
        if not _MODEL_URL.match(url):
            raise _errors.InvalidInputError(
                f"expected a model URL like http://127.0.0.1:8000/v2/models/NAME (optionally /versions/V); got {url!r}"
            )
        self.url = url.rstrip("/")
        self._token = token if token is not None else os.environ.get("MLSHIP_TOKEN") or None
        self._timeout = timeout
        self._metadata: dict[str, Any] | None = None

    def metadata(self) -> dict[str, Any]:
        """``GET {url}``: the model's name, inputs and outputs (cached after the first call)."""
        if self._metadata is None:
            meta = self._call("GET", self.url)
            if not isinstance(meta, dict) or not isinstance(meta.get("inputs"), list):
                raise _errors.InvalidInputError(f"{self.url} did not answer with KServe v2 model metadata")
            self._metadata = meta
        return self._metadata

    @property
    def input_specs(self) -> list[dict[str, Any]]:
        return self.metadata()["inputs"]

    @property
    def output_names(self) -> list[str]:
        return [o["name"] for o in self.metadata().get("outputs", [])]

    def infer(self, inputs: list[np.ndarray]) -> dict[str, np.ndarray]:
        """``POST {url}/infer`` with one array per model input; the outputs by name, in response order."""
        specs = self.input_specs
        if len(inputs) != len(specs):
            raise _errors.InvalidInputError(f"{self.url} takes {len(specs)} input(s); got {len(inputs)}")
        body = {"inputs": [
            {"name": spec["name"], "shape": list(x.shape), "datatype": spec["datatype"],
             "data": x.ravel().tolist()}
            for spec, x in zip(specs, inputs)
        ]}
        reply = self._call("POST", self.url + "/infer", json.dumps(body).encode())
        outputs = {}
        for out in reply.get("outputs", []) if isinstance(reply, dict) else []:
            dtype = _NUMPY_DTYPES.get(out.get("datatype"), np.float32) or np.float32  # BF16 arrives as numbers
            outputs[out["name"]] = np.asarray(out["data"], dtype=dtype).reshape(out["shape"])
        if not outputs:
            raise _errors.InferenceError(f"{self.url}/infer answered without outputs")
        return outputs

    def _call(self, method: str, url: str, body: bytes | None = None) -> Any:
        return call_json(method, url, body, token=self._token, timeout=self._timeout)


def call_json(method: str, url: str, body: bytes | None = None, *, token: str | None, timeout: float) -> Any:
    """One HTTP call answered with JSON (read up to a bound); HTTP errors raise mlship's exception classes."""
    headers = {"Content-Type": "application/json"} if body is not None else {}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(url, data=body, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 - http(s) only
            return _parse(response.read(MAX_RESPONSE_BYTES + 1), url)
    except urllib.error.HTTPError as e:
        detail = _error_text(e)
        cls = _ERRORS_BY_STATUS.get(e.code, _errors.InferenceError if e.code >= 500 else _errors.MlshipError)
        raise cls(f"{method} {url}: HTTP {e.code}: {detail}") from None
    except urllib.error.URLError as e:
        raise _errors.OverloadedError(f"cannot reach {url}: {e.reason}") from None
    except TimeoutError:
        raise _errors.DeadlineExceededError(f"{url} did not answer within {timeout:g} s") from None


def _parse(raw: bytes, url: str) -> Any:
    if len(raw) > MAX_RESPONSE_BYTES:
        raise _errors.ResourceExhaustedError(f"{url} answered with more than {MAX_RESPONSE_BYTES} bytes")
    try:
        return json.loads(raw)
    except ValueError:
        raise _errors.InvalidInputError(f"{url} did not answer with JSON") from None


def _error_text(e: urllib.error.HTTPError) -> str:
    raw = e.read(64 * 1024)
    try:
        return str(json.loads(raw).get("error", raw.decode(errors="replace")))
    except (ValueError, AttributeError):
        return raw.decode(errors="replace").strip() or e.reason
