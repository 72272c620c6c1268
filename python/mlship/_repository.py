"""mlship.Repository: a verified store of models and their versions on disk.

The layout, the manifests, the hashing and the crash-safe adds live in the C++ core
(``cpp/include/mlship/repository/``), so ``mlship-server --repository DIR`` reads exactly
what Python writes. This module saves models and arrays to files and hands them over.
"""

from __future__ import annotations

import json
import os
import tempfile
from typing import Any

import numpy as np

from mlship import _core, _options
from mlship._load import load
from mlship._model import Model
from mlship._signature import Signature


def _arrays(x: Any) -> tuple[np.ndarray, ...]:
    """One array per input (or output): a tuple/list of them, a dict's values, or one."""
    if isinstance(x, dict):
        x = tuple(x.values())
    elif not isinstance(x, (tuple, list)):
        x = (x,)
    out = []
    for item in x:
        if hasattr(item, "detach"):
            item = item.detach().cpu()
            item = item.float() if str(item.dtype) == "torch.bfloat16" else item
            item = item.numpy()
        out.append(np.ascontiguousarray(np.asarray(item)))
    return tuple(out)


class Repository:
    """Models on disk, one folder per model and per version, every file hashed.

    ``<root>/<name>/<version>/`` holds the model file and ``mlship.json``, its manifest:
    the sha256 of every file, the signature, serving settings, an optional monitoring
    reference and golden outputs, labels, free-form metadata and the creation time.
    Aliases (``stable``, ``canary``) and model-wide settings live in
    ``<root>/<name>/mlship-model.json``. Reading verifies every hash; nothing is ever
    unpickled. See docs/serving.md ("The model repository").

    Examples
    --------
    >>> repo = mlship.Repository("models")                          # doctest: +SKIP
    >>> repo.add("digits", model, aliases=["stable"], golden=X[:8],  # doctest: +SKIP
    ...          metadata={"accuracy": 0.97, "git_commit": "abc123"})
    {'name': 'digits', 'version': '1', ...}
    """

    def __init__(self, root: str | os.PathLike, create: bool = True) -> None:
        self._core = _core.Repository(os.fspath(root), create)

    @property
    def root(self) -> str:
        return self._core.root

    def add(self, name: str, model: Any, version: str | None = None, *, aliases: tuple[str, ...] | list[str] = (),
            metadata: dict[str, Any] | None = None, labels: dict[str, str] | None = None,
            signature: Signature | None = None, example_inputs: Any = None, settings: dict[str, Any] | None = None,
            reference: Any = None, golden: Any = None, rtol: float | None = None,
            atol: float | None = None) -> dict[str, Any]:
        """Adds ``model`` as a new version of ``name`` and returns its manifest.

        Parameters
        ----------
        model : mlship.Model, a model file, or anything :func:`mlship.load` accepts
            A file is copied as it is: a plain ``torch.jit.save`` file (no signature inside)
            needs ``signature=`` (or ``example_inputs``). Files written by ``torch.save``
            (pickles) are refused.
        version : str, optional
            Default: the next integer (``"1"`` for the first). Versions are never overwritten.
        aliases : names pointed at the new version, e.g. ``["canary"]``.
        metadata : dict
            Free-form JSON: training run, data set, git commit, metrics, an evaluation report.
        labels : dict of str
        settings : dict
            Serving settings of this version (version-scope keys of the options schema, e.g.
            ``{"max_batch_size": 16}``); checked now.
        reference : array, optional
            A monitoring reference (float32), shaped like the first input.
        golden : sample inputs (or ``(inputs, outputs)``), optional
            Stored with the outputs the model gives on them; a server loads the version only
            if it reproduces them (within ``rtol``/``atol``, default by dtype).

        The version is written to a hidden folder and renamed into place, so a crash never
        leaves half a version.
        """
        if settings:
            _options.check(settings, ("version",), "settings=")
        if isinstance(model, (str, os.PathLike)):
            source_path = os.fspath(model)
            loaded = load(source_path, example_inputs, signature=signature)
        elif isinstance(model, Model):
            loaded, source_path = model, None
        else:
            loaded, source_path = load(model, example_inputs, signature=signature), None
        sig = signature if signature is not None else loaded.signature
        with tempfile.TemporaryDirectory(prefix="mlship-add-") as tmp:
            model_file = "model.pt2" if loaded.format == "aotinductor" else "model.pt"
            if source_path is None:
                source_path = os.path.join(tmp, model_file)
                loaded.save(source_path)
            files: dict[str, str] = {}
            reference_path = ""
            if reference is not None:
                reference_path = "reference.npy"
                files[reference_path] = os.path.join(tmp, reference_path)
                np.save(files[reference_path], np.ascontiguousarray(np.asarray(reference, dtype=np.float32)))
            golden_in: list[str] | None = None
            golden_out: list[str] | None = None
            if golden is not None:
                if isinstance(golden, tuple) and len(golden) == 2 and isinstance(golden[0], (tuple, list)):
                    inputs, outputs = _arrays(golden[0]), _arrays(golden[1])
                else:
                    inputs = _arrays(golden)
                    outputs = _arrays(loaded(*inputs))
                os.makedirs(os.path.join(tmp, "golden"))
                golden_in, golden_out = [], []
                for kind, arrays, paths in (("input", inputs, golden_in), ("output", outputs, golden_out)):
                    for i, array in enumerate(arrays):
                        relative = f"golden/{kind}_{i}.npy"
                        files[relative] = os.path.join(tmp, relative)
                        np.save(files[relative], array)
                        paths.append(relative)
            manifest = self._core.add(
                name, version or "", source_path, model_file, files, sig.to_json(),
                json.dumps(settings or {}), reference_path, golden_in, golden_out, rtol, atol,
                dict(labels or {}), json.dumps(metadata or {}), list(aliases),
            )
        return json.loads(manifest)

    def list(self) -> list[dict[str, Any]]:
        """Every model: ``{"name", "versions", "aliases"}``."""
        out = []
        for name in self._core.models():
            config = json.loads(self._core.config(name))
            out.append({"name": name, "versions": list(self._core.versions(name)), "aliases": config["aliases"]})
        return out

    def versions(self, name: str) -> list[str]:
        """The versions of ``name``, oldest first ("2" before "10")."""
        return list(self._core.versions(name))

    def get(self, name: str, version: str | None = None, verify: bool = True) -> dict[str, Any]:
        """The manifest of ``version`` (a version or an alias; default: the newest) plus
        ``"path"`` (its folder). With ``verify``, every file is hashed first; a tampered or
        missing file raises ``FailedPreconditionError`` naming it."""
        if version is None:
            versions = self.versions(name)
            if not versions:
                from mlship._errors import NotFoundError

                raise NotFoundError(f"model {name!r} has no versions")
            version = versions[-1]
        path, manifest = self._core.get(name, version, verify)
        out = json.loads(manifest)
        out["path"] = path
        return out

    def load(self, name: str, version: str | None = None, **kwargs: Any) -> Model:
        """The verified version (default: the newest) loaded as an :class:`mlship.Model`."""
        record = self.get(name, version)
        signature = Signature.from_json(json.dumps(record["signature"])) if record.get("signature") else None
        return load(os.path.join(record["path"], record["model"]), signature=signature, **kwargs)

    def aliases(self, name: str) -> dict[str, str]:
        return dict(json.loads(self._core.config(name))["aliases"])

    def set_alias(self, name: str, alias: str, version: str | None) -> None:
        """Points ``alias`` at ``version`` (which must exist), or removes it when ``version`` is None.
        A running server picks it up on its next load of the model (``server.load(name)``, or
        ``POST /v2/repository/models/{name}/load``)."""
        self._core.set_alias(name, alias, version or "")

    def settings(self, name: str) -> dict[str, Any]:
        """The model-wide settings (``default_version``, ``version_policy``, ...)."""
        return dict(json.loads(self._core.config(name))["settings"])

    def set_settings(self, name: str, **settings: Any) -> None:
        """Replaces the model-wide settings, e.g. ``version_policy="latest:2"`` (checked now)."""
        self._core.set_model_settings(name, json.dumps(settings))

    def remove(self, name: str, version: str | None = None, force: bool = False) -> None:
        """Removes one version (or, without ``version``, the whole model). An aliased version
        is only removed with ``force`` (which drops its aliases)."""
        self._core.remove(name, version or "", force)

    def verify(self, name: str | None = None) -> list[dict[str, Any]]:
        """Checks every version (of ``name``, or all): ``[{"name", "version", "problems": [...]}]``;
        an empty ``problems`` list means intact."""
        return list(self._core.verify(name or ""))

    def __repr__(self) -> str:
        return f"mlship.Repository({self.root!r})"
