"""``mlship.ray``: a Ray Serve deployment whose replicas each run mlship's engine in-process.

Ray provides the replicas, their placement across machines, routing and autoscaling; each
replica keeps mlship's C++ path: an in-process server (``http=False``) whose batcher groups the
requests Ray hands the replica concurrently, awaited with ``apredict``. So there is no
``@serve.batch`` here: mlship's batcher already does it, on native threads without the GIL.

Examples
--------
>>> from ray import serve                                          # doctest: +SKIP
>>> import mlship, mlship.ray
>>> app = mlship.ray.deployment("digits.pt", name="digits", num_replicas=2)
>>> handle = serve.run(app, route_prefix="/digits")
>>> handle.predict.remote(x).result()                              # by handle: numpy in, numpy out
>>> # over HTTP: POST {proxy}/digits/v2/models/digits/infer with a KServe v2 JSON body
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["MlshipReplica", "deployment"]


@dataclass(frozen=True)
class _Payload:
    """What every replica needs to serve: one model's saved bytes, or a repository path.

    A model travels as the bytes of its saved TorchScript file (which mlship loads, never
    unpickles), so replicas on other machines need no shared storage. A repository is
    read from its path, which must exist on every node (a shared or synced volume).
    """

    name: str
    model_bytes: bytes | None
    repository: str | None
    settings: dict[str, Any]


class MlshipReplica:
    """One Ray Serve replica: an in-process mlship server and the requests Ray routes to it."""

    def __init__(self, payload: _Payload) -> None:
        import mlship

        self._name = payload.name
        self._output_names: list[str] | None = None
        self._server = mlship.serve(payload.repository, http=False, **payload.settings)
        if payload.model_bytes is not None:
            with tempfile.TemporaryDirectory(prefix="mlship-ray-") as folder:
                path = Path(folder) / "model.pt"
                path.write_bytes(payload.model_bytes)
                model = mlship.load(str(path), threads=payload.settings.get("intra_op_threads"))
            self._output_names = [spec.name for spec in model.signature.outputs]
            self._server.deploy(model, name=payload.name)

    async def predict(self, *inputs: Any, model: str | None = None, version: str | None = None) -> Any:
        """One request by handle: ``handle.predict.remote(x)``; the result as ``Model`` returns it."""
        return await self._server.apredict(model or self._name, *inputs, version=version)

    async def __call__(self, request: Any) -> Any:
        """``POST .../v2/models/{name}[/versions/{v}]/infer`` with a KServe v2 JSON body, via Ray's proxy."""
        from starlette.responses import JSONResponse

        from mlship import _errors
        from mlship._v2_json import decode_inputs, encode_outputs

        parts = request.url.path.rstrip("/").split("/")
        if "models" not in parts or parts[-1] != "infer":
            return JSONResponse({"error": "POST /v2/models/{name}/infer"}, status_code=404)
        name = parts[parts.index("models") + 1]
        version = parts[parts.index("versions") + 1] if "versions" in parts else None
        try:
            inputs = decode_inputs(await request.json())
            result = await self._server.apredict(name, *inputs, version=version)
        except ValueError as e:  # InvalidInputError, and a body that is not JSON
            return JSONResponse({"error": str(e)}, status_code=400)
        except _errors.NotFoundError as e:
            return JSONResponse({"error": str(e)}, status_code=404)
        except _errors.OverloadedError as e:
            return JSONResponse({"error": str(e)}, status_code=503)
        names = self._output_names if name == self._name else None
        return JSONResponse(encode_outputs(name, result, names))

    def describe(self) -> dict[str, Any]:
        """Where this replica runs and what it serves: ``{"node_id", "pid", "models"}`` (for operators)."""
        import ray

        return {"node_id": ray.get_runtime_context().get_node_id(), "pid": os.getpid(),
                "models": [m["name"] for m in self._server.models()]}

    def check_health(self) -> None:
        """Ray's health check: raises when the in-process server no longer answers, so Ray replaces the replica."""
        self._server.models()

    def __del__(self) -> None:
        server = getattr(self, "_server", None)
        if server is not None:
            server.stop()


def deployment(source: Any, *, name: str | None = None, num_replicas: int | str = 1,
               max_ongoing_requests: int | None = None, ray_actor_options: dict[str, Any] | None = None,
               autoscaling_config: dict[str, Any] | None = None, example_inputs: Any = None,
               **settings: Any) -> Any:
    """A Ray Serve application serving ``source`` with mlship in every replica.

    Parameters
    ----------
    source : mlship.Model, torch.nn.Module, model file path, or repository folder
        What to serve. A module needs ``example_inputs`` (as for :func:`mlship.load`).
    name : str, optional
        The model's name (default: ``"model"``, or the file's stem); for a repository, the
        deployment's name (each model keeps its own).
    num_replicas, autoscaling_config, ray_actor_options
        As for ``ray.serve.deployment``. ``ray_actor_options`` defaults to one CPU per replica.
    max_ongoing_requests : int, optional
        Requests Ray lets into one replica at once; mlship batches those. Default: twice
        ``max_batch_size`` (64 by default), so a replica can fill a batch while one runs.
    **settings
        mlship options for each replica's server (``max_batch_size``, ``max_delay_ms``,
        ``instances``, ``intra_op_threads``, ...). ``instances`` defaults to the replica's CPUs and
        ``intra_op_threads`` to 1, because Ray, not the node's core count, decides a replica's share.

    Returns
    -------
    ray.serve.Application, for ``serve.run(app, route_prefix=...)``.
    """
    from ray import serve

    import mlship

    actor_options = dict(ray_actor_options or {"num_cpus": 1})
    settings = dict(settings)
    settings.setdefault("instances", max(1, int(actor_options.get("num_cpus", 1) or 1)))
    settings.setdefault("intra_op_threads", 1)
    payload = _payload(source, name, example_inputs, settings, mlship)
    ongoing = max_ongoing_requests or 2 * int(settings.get("max_batch_size", 32))
    options: dict[str, Any] = {"name": f"mlship-{payload.name}", "max_ongoing_requests": ongoing,
                               "ray_actor_options": actor_options}
    if autoscaling_config is not None:
        options["autoscaling_config"] = autoscaling_config
    else:
        options["num_replicas"] = num_replicas
    return serve.deployment(MlshipReplica, **options).bind(payload)


def _payload(source: Any, name: str | None, example_inputs: Any, settings: dict[str, Any], mlship: Any) -> _Payload:
    if isinstance(source, (str, os.PathLike)) and Path(source).is_dir():
        return _Payload(name or Path(source).resolve().name, None, str(Path(source).resolve()), settings)
    if isinstance(source, (str, os.PathLike)):
        name = name or Path(source).stem
        source = mlship.load(str(source))
    model = source if isinstance(source, mlship.Model) else mlship.load(source, example_inputs=example_inputs)
    if model.format != "torchscript":
        raise ValueError(f"mlship.ray ships a single model to its replicas as TorchScript bytes; this one is "
                         f"{model.format!r}: serve it from a repository folder on every node instead")
    with tempfile.TemporaryDirectory(prefix="mlship-ray-") as folder:
        path = Path(folder) / "model.pt"
        model.save(str(path))
        return _Payload(name or "model", path.read_bytes(), None, settings)
