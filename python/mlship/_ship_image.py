"""``mlship containerize``: an OCI image that serves the models with ``mlship-server``, built by podman.

The image is ``FROM scratch`` plus one layer, the root filesystem ``_ship_rootfs`` assembles
(only the server, the libraries it links and the models), so no base image is pulled from any
registry. podman (Debian's package) builds it without a daemon or root; the Containerfile is
kept in the build folder for anyone who wants to rebuild it with another builder.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from mlship import _ship_layout as layout
from mlship import _ship_python, _ship_rootfs
from mlship._ship_layout import ServedModels
from mlship._ship_python import PythonRuntime


@dataclass(frozen=True)
class Image:
    """A built image: its tag and id, and how big it is next to the environment it came from."""

    tag: str
    image_id: str
    size_bytes: int  # as podman reports it (the uncompressed layer)
    venv_bytes: int
    libraries: tuple[str, ...]

    def summary(self) -> str:
        mib = 2**20
        return (f"{self.tag} ({self.image_id[:12]}): {self.size_bytes / mib:.0f} MiB, against "
                f"{self.venv_bytes / mib:.0f} MiB for the Python environment it came from "
                f"({self.size_bytes / self.venv_bytes:.0%}); {len(self.libraries)} shared libraries")


def containerfile(served: ServedModels, rootfs: _ship_rootfs.Rootfs, python: PythonRuntime | None = None) -> str:
    """The Containerfile for ``rootfs``, which lies in ``rootfs/`` beside it; with ``python``, the
    entrypoint is the Python server (``python -m mlship serve``), with the same arguments."""
    health = [layout.HEALTHCHECK_TOOL, "wget", "-q", "-O", "/dev/null",
              f"http://127.0.0.1:{layout.PORT}{layout.HEALTH_READY}"]
    lines = [
        "# Written by mlship containerize: mlship-server, the libraries it links, the models; nothing else.",
        "FROM scratch",
        "COPY rootfs/ /",
        f"USER {layout.USER_ID}:{layout.USER_ID}",
        f"ENV LD_LIBRARY_PATH={rootfs.library_path}",
        *([f"ENV PYTHONPATH={layout.SITE_DIR} PYTHONDONTWRITEBYTECODE=1"] if python else []),
        f"EXPOSE {layout.PORT}",
        # The server drains on SIGTERM: readiness goes false, accepted requests are answered.
        "STOPSIGNAL SIGTERM",
        f"HEALTHCHECK --interval=10s --timeout=3s --start-period=60s --retries=3 CMD {json.dumps(health)}",
        f"LABEL org.opencontainers.image.title={json.dumps(served.name)} io.mlship.models={json.dumps(served.image_source)}",
        f"ENTRYPOINT {json.dumps(python.entrypoint() if python else [layout.SERVER_PATH])}",
        # Binding beyond loopback needs a token: run with -e MLSHIP_TOKEN=... (a Secret in Kubernetes).
        f"CMD {json.dumps(served.server_args())}",
    ]
    return "\n".join(lines) + "\n"


def _podman() -> str:
    found = shutil.which("podman")
    if found is None:
        raise FileNotFoundError("mlship containerize builds with podman: apt-get install podman")
    return found


def build(served: ServedModels, tag: str, *, python: bool = False, keep: Path | None = None,
          timeout_s: float = 900) -> Image:
    """Builds the image ``tag`` with podman; ``keep`` keeps the build folder (rootfs + Containerfile).

    ``python`` puts the Python server in the image instead of serving with ``mlship-server``
    directly: the interpreter and the modules it imports, traced on this machine (``_ship_python``)."""
    from mlship._cli import server_executable

    podman = _podman()
    server = server_executable()
    if not server.is_file():
        raise FileNotFoundError(f"mlship-server is not installed at {server}; build mlship with its serving layers")
    folder = Path(keep) if keep else Path(tempfile.mkdtemp(prefix="mlship-image-"))
    try:
        runtime = _ship_python.runtime(_ship_python.traced_modules(served)) if python else None
        rootfs = _ship_rootfs.assemble(served, folder / "rootfs", server, runtime)
        (folder / "Containerfile").write_text(containerfile(served, rootfs, runtime))
        # Docker format: the OCI image config has no HEALTHCHECK field.
        built = subprocess.run([podman, "build", "--format", "docker", "--quiet", "-t", tag, "-f",
                                str(folder / "Containerfile"), str(folder)], check=False,
                               capture_output=True, text=True, timeout=timeout_s)
        if built.returncode != 0:
            raise RuntimeError(f"podman build failed: {built.stderr.strip()[-2000:]}")
        image_id = built.stdout.strip().splitlines()[-1]
        inspected = json.loads(subprocess.run([podman, "image", "inspect", image_id], capture_output=True,
                                              text=True, timeout=60, check=True).stdout)[0]
        return Image(tag, image_id, int(inspected["Size"]), _ship_rootfs.venv_size_bytes(), rootfs.libraries)
    finally:
        if keep is None:
            shutil.rmtree(folder, ignore_errors=True)


def save_oci(tag: str, directory: Path, timeout_s: float = 600) -> Path:
    """Writes the image as an OCI image layout folder (uncompressed layers), e.g. for ``skopeo copy``."""
    subprocess.run([_podman(), "save", "--format", "oci-dir", "--uncompressed", "-o", str(directory), tag],
                   capture_output=True, text=True, timeout=timeout_s, check=True)
    return directory
