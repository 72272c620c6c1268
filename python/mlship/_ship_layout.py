"""Where things are inside an image that ``mlship containerize`` builds, and how it starts.

``mlship k8s`` writes manifests for those images, so both read this one description: the
server's path, the models' folder, the port, the user, and the server's arguments.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# The Python-free server, kept at its site-packages-relative place (mlship/bin/ beside
# torch/lib/) so its RUNPATH ($ORIGIN/../../torch/lib) finds LibTorch unchanged.
SITE_DIR = "/opt/mlship/site"
SERVER_PATH = f"{SITE_DIR}/mlship/bin/mlship-server"
# The model file, or the repository, baked into the image (read-only).
MODELS_DIR = "/models"
# The port the server listens on in a container; 8080 is also KServe's default.
PORT = 8080
# A fixed non-root user (the "nonroot" uid distroless images use), so manifests can name it.
USER_ID = 65532
# A static busybox, only for the image's HEALTHCHECK (a FROM-scratch image has no HTTP client).
HEALTHCHECK_TOOL = "/opt/mlship/bin/busybox"
HEALTH_LIVE = "/v2/health/live"
HEALTH_READY = "/v2/health/ready"
METRICS_PATH = "/metrics"


@dataclass(frozen=True)
class ServedModels:
    """What an image serves: one model file, or a repository folder (``mlship repo add ...``).

    ``source`` is the path on this machine; ``name`` names a single model in URLs.
    """

    source: Path
    is_repository: bool
    name: str
    options: dict[str, Any] = field(default_factory=dict)

    @staticmethod
    def of(model: str | None, repository: str | None, name: str | None, options: dict[str, Any]) -> ServedModels:
        """Checks that exactly one of ``model`` and ``repository`` is given and exists.

        Raises ValueError (or FileNotFoundError) saying which.
        """
        if (model is None) == (repository is None):
            raise ValueError("give a model file or --repository DIR (not both, not neither)")
        if repository is not None:
            root = Path(repository)
            if not root.is_dir():
                raise FileNotFoundError(f"--repository {repository}: not a folder (make one with mlship repo add)")
            return ServedModels(root.resolve(), True, name or root.resolve().name, dict(options))
        path = Path(model)
        if not path.is_file():
            raise FileNotFoundError(f"{model}: no such model file")
        return ServedModels(path.resolve(), False, name or options.get("name") or path.stem, dict(options))

    @property
    def image_source(self) -> str:
        """The model file's or the repository's path inside the image."""
        return MODELS_DIR if self.is_repository else f"{MODELS_DIR}/{self.source.name}"

    def files(self) -> list[Path]:
        """Every file that goes into the image's models folder."""
        if not self.is_repository:
            files = [self.source]
            sidecar = self.source.with_name(self.source.name + ".signature.json")  # .pt2 packages
            return files + ([sidecar] if sidecar.is_file() else [])
        return sorted(p for p in self.source.rglob("*") if p.is_file())

    def size_bytes(self) -> int:
        return sum(os.path.getsize(p) for p in self.files())

    def server_args(self, host: str = "0.0.0.0", port: int = PORT) -> list[str]:
        """The arguments of ``mlship-server`` (after its path) that serve these models.

        The schema options given (``--instances`` and the like) follow as flags; the tokens never
        do: they come from the environment (a Secret in Kubernetes).
        """
        from mlship import _options

        args = ["--repository", MODELS_DIR] if self.is_repository else [self.image_source, "--name", self.name]
        args += ["--host", host, "--port", str(port)]
        flags = {spec["key"]: spec for spec in _options.schema()}
        for key, value in self.options.items():
            if key in ("token", "admin_token", "host", "port", "name") or value is None:
                continue
            spec = flags[key]
            if spec["type"] == "bool":
                if value != spec["default"]:
                    args.append(("--" if value else "--no-") + spec["flag"])
                continue
            args += ["--" + spec["flag"], _flag_text(value)]
        return args


def _flag_text(value: Any) -> str:
    """A schema value as ``mlship-server`` parses it: 8,16,32 for lists, true/false for auto_bool."""
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)
