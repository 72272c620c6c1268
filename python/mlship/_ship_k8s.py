"""``mlship k8s``: Kubernetes (and KServe) manifests for an image that ``mlship containerize`` built.

A Kustomize base (plain manifests plus a ``kustomization.yaml``), not a Helm chart: mlship is
already the generator, so the files hold final values that ``kubectl apply -k`` takes as they
are and that a schema validator can check as written; a chart's templates can only be checked
after ``helm template`` renders them, and a change goes in as a Kustomize overlay.
"""

from __future__ import annotations

import math
import re
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlship import _ship_layout as layout
from mlship._ship_layout import ServedModels

# When the server's own thread counts are not given: pinned, because in a pod the server
# would otherwise count the node's cores, not the pod's share of them.
DEFAULT_INSTANCES = 2
DEFAULT_INTRA_OP_THREADS = 1
# The model format a KServe ServingRuntime declares and an InferenceService asks for.
KSERVE_MODEL_FORMAT = "mlship"


@dataclass(frozen=True)
class KubeOptions:
    """What ``mlship k8s`` writes besides the served models' own settings.

    image: the image reference (``NAME:TAG``) built by ``mlship containerize``.
    replicas: pods at first; the HorizontalPodAutoscaler then moves between min and max.
    target_cpu_percent: average CPU use of the requested cores that the autoscaler aims at.
    memory_mib: memory request and limit per pod; None derives 512 MiB plus 3x the models' files.
    token_secret: an existing Secret with key ``token`` (and optionally ``admin-token``); None
        writes ``secret.yaml`` with a random token.
    prestop_seconds: how long a stopping pod keeps serving before SIGTERM, so that Services and
        load balancers have stopped sending to it; the server then drains.
    kserve: a ServingRuntime and an InferenceService instead of Deployment, Service, HPA and PDB.
    """

    image: str
    replicas: int = 2
    min_replicas: int = 2
    max_replicas: int = 10
    target_cpu_percent: int = 70
    memory_mib: int | None = None
    token_secret: str | None = None
    prestop_seconds: int = 5
    kserve: bool = False

    def check(self) -> None:
        """Raises ValueError naming the value that cannot be used."""
        if not re.fullmatch(r"[^\s:@]+(:[\w][\w.-]{0,127})?(@sha256:[0-9a-f]{64})?", self.image):
            raise ValueError(f"--image {self.image!r}: expected NAME:TAG (e.g. registry.example.com/digits:1.0)")
        if not 1 <= self.min_replicas <= self.max_replicas:
            raise ValueError(f"replicas: need 1 <= min ({self.min_replicas}) <= max ({self.max_replicas})")
        if not self.min_replicas <= self.replicas <= self.max_replicas:
            raise ValueError(f"--replicas {self.replicas}: must lie between --min-replicas and --max-replicas")
        if not 1 <= self.target_cpu_percent <= 100:
            raise ValueError(f"--target-cpu-percent {self.target_cpu_percent}: expected 1..100")
        if self.memory_mib is not None and self.memory_mib < 64:
            raise ValueError(f"--memory-mib {self.memory_mib}: too small for LibTorch; expected at least 64")
        if self.prestop_seconds < 0:
            raise ValueError(f"--prestop-seconds {self.prestop_seconds}: expected >= 0")


def k8s_name(text: str) -> str:
    """``text`` as a DNS-1123 label (what most object names must be)."""
    name = re.sub(r"[^a-z0-9-]+", "-", text.lower()).strip("-")[:50].strip("-")
    if not name:
        raise ValueError(f"cannot make a Kubernetes name of {text!r}; pass --name")
    return name


def grace_period_seconds(drain_timeout_ms: int, prestop_seconds: int) -> int:
    """``terminationGracePeriodSeconds``: the preStop wait, then the whole drain, then 5 s to exit.

    Kubernetes counts the grace period from the start of preStop, and kills the pod when it ends.
    """
    return prestop_seconds + math.ceil(drain_timeout_ms / 1000) + 5


def manifests(served: ServedModels, opts: KubeOptions) -> dict[str, list[dict[str, Any]]]:
    """The manifests, by file name (each file holds one or more objects)."""
    from mlship import _options

    opts.check()
    name = k8s_name(served.name)
    options = dict(served.options)
    options.setdefault("instances", DEFAULT_INSTANCES)
    options.setdefault("intra_op_threads", DEFAULT_INTRA_OP_THREADS)
    served = ServedModels(served.source, served.is_repository, served.name, options)
    drain_ms = int(options.get("drain_timeout_ms", _options.default("drain_timeout_ms")))
    secret = opts.token_secret or f"{name}-token"
    container = _container(served, opts, secret)
    files: dict[str, list[dict[str, Any]]] = {}
    if opts.token_secret is None:
        files["secret.yaml"] = [_secret(name, secret)]
    if opts.kserve:
        files["servingruntime.yaml"] = [_serving_runtime(name, container)]
        files["inferenceservice.yaml"] = [_inference_service(name, container, drain_ms, opts)]
    else:
        files["deployment.yaml"] = [_deployment(name, container, drain_ms, opts)]
        files["service.yaml"] = [_service(name)]
        files["hpa.yaml"] = [_autoscaler(name, opts)]
        files["pdb.yaml"] = [_disruption_budget(name)]
    files["kustomization.yaml"] = [{
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": sorted(files),
    }]
    return files


def write(directory: str | Path, files: dict[str, list[dict[str, Any]]], command: str) -> list[Path]:
    """Writes the manifests as YAML; ``secret.yaml`` readable by its owner only."""
    from mlship._ship_yaml import dump_all

    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for filename, objects in files.items():
        path = out / filename
        text = f"# Written by `{command}`. Regenerate rather than edit; change it with a Kustomize overlay.\n"
        text += dump_all(objects)
        path.write_text(text)
        if filename == "secret.yaml":
            path.chmod(0o600)
        written.append(path)
    return written


def _labels(name: str) -> dict[str, str]:
    return {"app.kubernetes.io/name": "mlship", "app.kubernetes.io/instance": name}


def _http_probe(path: str, period: int, failures: int) -> dict[str, Any]:
    return {"httpGet": {"path": path, "port": "http"}, "periodSeconds": period, "timeoutSeconds": 2,
            "failureThreshold": failures}


def _resources(served: ServedModels, opts: KubeOptions) -> dict[str, Any]:
    # Cores: what the instance workers can keep busy (instances x torch threads each); the
    # I/O threads only parse and encode. No CPU limit: CFS throttling adds tail latency.
    cores = int(served.options["instances"]) * int(served.options["intra_op_threads"])
    memory = opts.memory_mib or 512 + math.ceil(3 * served.size_bytes() / 2**20)
    return {"requests": {"cpu": str(cores), "memory": f"{memory}Mi"}, "limits": {"memory": f"{memory}Mi"}}


def _container(served: ServedModels, opts: KubeOptions, secret: str) -> dict[str, Any]:
    return {
        "name": "kserve-container" if opts.kserve else "mlship",
        "image": opts.image,
        "args": served.server_args(host="0.0.0.0", port=layout.PORT),
        "ports": [{"name": "http", "containerPort": layout.PORT, "protocol": "TCP"}],
        "env": [
            {"name": "MLSHIP_TOKEN", "valueFrom": {"secretKeyRef": {"name": secret, "key": "token"}}},
            {"name": "MLSHIP_ADMIN_TOKEN",
             "valueFrom": {"secretKeyRef": {"name": secret, "key": "admin-token", "optional": True}}},
        ],
        "resources": _resources(served, opts),
        # The port opens only once every model is loaded: startup waits up to 3 minutes for that
        # before liveness may restart the pod.
        "startupProbe": _http_probe(layout.HEALTH_LIVE, 2, 90),
        "livenessProbe": _http_probe(layout.HEALTH_LIVE, 10, 3),
        "readinessProbe": _http_probe(layout.HEALTH_READY, 5, 2),
        # Keep serving while endpoints are withdrawn; SIGTERM then makes the server unready and
        # drain. The sleep action needs no shell (the image has none).
        "lifecycle": {"preStop": {"sleep": {"seconds": opts.prestop_seconds}}},
        "securityContext": {
            "runAsNonRoot": True, "runAsUser": layout.USER_ID, "runAsGroup": layout.USER_ID,
            "allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
            "capabilities": {"drop": ["ALL"]}, "seccompProfile": {"type": "RuntimeDefault"},
        },
        # .pt2 packages unpack into /tmp; the root filesystem is read-only.
        "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
    }


_TMP_VOLUME = {"name": "tmp", "emptyDir": {"sizeLimit": "1Gi"}}


def _scrape_annotations() -> dict[str, str]:
    # /metrics needs the bearer token: the scrape job must send it (docs/shipping.md).
    return {"prometheus.io/scrape": "true", "prometheus.io/path": layout.METRICS_PATH,
            "prometheus.io/port": str(layout.PORT)}


def _secret(name: str, secret: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
            "metadata": {"name": secret, "labels": _labels(name)},
            "stringData": {"token": secrets.token_urlsafe(32)}}


def _deployment(name: str, container: dict[str, Any], drain_ms: int, opts: KubeOptions) -> dict[str, Any]:
    labels = _labels(name)
    return {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "labels": labels},
        "spec": {
            "replicas": opts.replicas,
            "selector": {"matchLabels": labels},
            # Never below the current capacity during a rollout: one new pod first.
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}},
            "template": {
                "metadata": {"labels": labels, "annotations": _scrape_annotations()},
                "spec": {
                    "terminationGracePeriodSeconds": grace_period_seconds(drain_ms, opts.prestop_seconds),
                    "automountServiceAccountToken": False,
                    "securityContext": {"runAsNonRoot": True, "fsGroup": layout.USER_ID},
                    "topologySpreadConstraints": [{"maxSkew": 1, "topologyKey": "kubernetes.io/hostname",
                                                   "whenUnsatisfiable": "ScheduleAnyway",
                                                   "labelSelector": {"matchLabels": labels}}],
                    "containers": [container],
                    "volumes": [_TMP_VOLUME],
                },
            },
        },
    }


def _service(name: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": name, "labels": _labels(name)},
            "spec": {"selector": _labels(name),
                     "ports": [{"name": "http", "port": layout.PORT, "targetPort": "http", "protocol": "TCP"}]}}


def _autoscaler(name: str, opts: KubeOptions) -> dict[str, Any]:
    return {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
            "metadata": {"name": name, "labels": _labels(name)},
            "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name},
                     "minReplicas": opts.min_replicas, "maxReplicas": opts.max_replicas,
                     "metrics": [{"type": "Resource", "resource": {"name": "cpu", "target": {
                         "type": "Utilization", "averageUtilization": opts.target_cpu_percent}}}]}}


def _disruption_budget(name: str) -> dict[str, Any]:
    return {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
            "metadata": {"name": name, "labels": _labels(name)},
            "spec": {"maxUnavailable": 1, "selector": {"matchLabels": _labels(name)}}}


def _serving_runtime(name: str, container: dict[str, Any]) -> dict[str, Any]:
    # The models are baked into the image, so no storage initializer runs; the runtime is bound
    # to this InferenceService by name (autoSelect off).
    return {
        "apiVersion": "serving.kserve.io/v1alpha1", "kind": "ServingRuntime",
        "metadata": {"name": f"mlship-{name}", "labels": _labels(name)},
        "spec": {
            "supportedModelFormats": [{"name": KSERVE_MODEL_FORMAT, "version": "1", "autoSelect": False}],
            "protocolVersions": ["v2"],
            "multiModel": False,
            "annotations": _scrape_annotations(),
            "containers": [container],
            "volumes": [_TMP_VOLUME],
        },
    }


def _inference_service(name: str, container: dict[str, Any], drain_ms: int, opts: KubeOptions) -> dict[str, Any]:
    return {
        "apiVersion": "serving.kserve.io/v1beta1", "kind": "InferenceService",
        "metadata": {"name": name, "labels": _labels(name),
                     # A Deployment + HPA, like the plain manifests (no Knative needed).
                     "annotations": {"serving.kserve.io/deploymentMode": "RawDeployment"}},
        "spec": {"predictor": {
            "minReplicas": opts.min_replicas, "maxReplicas": opts.max_replicas,
            "scaleMetric": "cpu", "scaleTarget": opts.target_cpu_percent,
            "terminationGracePeriodSeconds": grace_period_seconds(drain_ms, opts.prestop_seconds),
            "model": {"modelFormat": {"name": KSERVE_MODEL_FORMAT, "version": "1"},
                      "runtime": f"mlship-{name}", "protocolVersion": "v2",
                      "resources": container["resources"]},
        }},
    }
