"""Offline schema checks for the manifests that ``mlship k8s`` writes.

Kubernetes objects: the OpenAPI-derived JSON schemas that the kubernetes-validate package ships
(strict: an unknown field is an error). KServe's custom resources have no schema there; their
API types come from the KServe Python SDK (``kserve`` on PyPI), generated from the same Go types
as KServe's CRDs. Its ``openapi_types``/``attribute_map`` tables are read from the source with
``ast`` rather than imported, because importing ``kserve`` starts its whole model-server stack
(FastAPI, gRPC, ...). Fields of Kubernetes types inside them (containers, probes, resources) are
checked against kubernetes-validate's definitions.
"""

from __future__ import annotations

import ast
import functools
import importlib.util
import re
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import referencing
from kubernetes_validate import utils as kv_utils

# The oldest Kubernetes with the preStop sleep action as beta (on by default), and the newest
# that kubernetes-validate knows.
KUBERNETES_VERSIONS = ("1.30", kv_utils.latest_version())


def validate_kubernetes(obj: dict[str, Any]) -> None:
    """Raises jsonschema.ValidationError if ``obj`` breaks its kind's schema in any version checked."""
    for version in KUBERNETES_VERSIONS:
        kubernetes_validate.validate(obj, version, strict=True)


@functools.lru_cache(maxsize=1)
def _definitions() -> tuple[dict[str, Any], referencing.Registry]:
    version = kv_utils.latest_version()
    defs = kv_utils.schema_contents(f"kubernetes-json-schema/v{version}-local-strict/_definitions.json", version)
    return defs, referencing.Resource.from_contents(defs) @ referencing.Registry()


def _validate_kubernetes_type(value: Any, python_name: str, where: str) -> None:
    """``value`` against the Kubernetes definition the client's class ``python_name`` stands for."""
    defs, registry = _definitions()
    found = re.fullmatch(r"V1(\w+)", python_name)
    keys = [k for k in defs["$defs"] if found and k.endswith(".v1." + found.group(1))]
    if len(keys) != 1:
        raise AssertionError(f"{where}: no single Kubernetes definition for {python_name}: {keys}")
    schema = {"$ref": f"{defs['$id']}#/$defs/{keys[0]}"}
    try:
        jsonschema.Draft202012Validator(schema, registry=registry).validate(value)
    except jsonschema.ValidationError as e:
        raise AssertionError(f"{where}: {e.message} (at {list(e.absolute_path)})") from None


@functools.lru_cache(maxsize=1)
def _kserve_types() -> dict[str, dict[str, str]]:
    """KServe class name -> {JSON field: type string}, from the SDK's generated models."""
    spec = importlib.util.find_spec("kserve")  # finds the package without running its __init__
    assert spec and spec.submodule_search_locations, "the kserve SDK is not installed (see PY_DEPS)"
    classes: dict[str, dict[str, str]] = {}
    for path in (Path(spec.submodule_search_locations[0]) / "models").glob("v1*.py"):
        for node in ast.parse(path.read_text()).body:
            if not isinstance(node, ast.ClassDef):
                continue
            tables = {t.targets[0].id: ast.literal_eval(t.value) for t in node.body
                      if isinstance(t, ast.Assign) and isinstance(t.targets[0], ast.Name)
                      and t.targets[0].id in ("openapi_types", "attribute_map")}
            if len(tables) == 2:
                classes[node.name] = {tables["attribute_map"][k]: v for k, v in tables["openapi_types"].items()}
    return classes


def _check(value: Any, kind: str, where: str) -> None:
    scalars = {"str": str, "int": int, "bool": bool}
    if kind in scalars:
        ok = isinstance(value, scalars[kind]) and not (kind == "int" and isinstance(value, bool))
        assert ok, f"{where}: expected {kind}, got {value!r}"
    elif kind == "object":
        return
    elif kind == "ResourceQuantity":
        assert isinstance(value, (str, int)), f"{where}: expected a quantity, got {value!r}"
    elif kind.startswith("list["):
        assert isinstance(value, list), f"{where}: expected a list, got {value!r}"
        for i, item in enumerate(value):
            _check(item, kind[5:-1], f"{where}[{i}]")
    elif kind.startswith("dict(str, "):
        assert isinstance(value, dict), f"{where}: expected a mapping, got {value!r}"
        for key, item in value.items():
            _check(item, kind[10:-1], f"{where}.{key}")
    elif kind in _kserve_types():
        assert isinstance(value, dict), f"{where}: expected an object ({kind}), got {value!r}"
        fields = _kserve_types()[kind]
        unknown = set(value) - set(fields)
        assert not unknown, f"{where}: {kind} has no field(s) {sorted(unknown)}; it has {sorted(fields)}"
        for key, item in value.items():
            _check(item, fields[key], f"{where}.{key}")
    else:
        _validate_kubernetes_type(value, kind, where)


def validate_kserve(obj: dict[str, Any]) -> None:
    """Raises AssertionError naming the field if ``obj`` does not fit KServe's API types."""
    group, version = obj["apiVersion"].split("/")
    assert group == "serving.kserve.io", obj["apiVersion"]
    _check(obj, version.capitalize() + obj["kind"], obj["kind"])
