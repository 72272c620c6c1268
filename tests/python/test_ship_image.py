"""`mlship containerize` (mlship-server, and --python): podman builds the image; its unpacked layers run the
entrypoint, serve, and drain.

podman builds and imports images here but cannot start containers (crun refuses to set rlimits;
the cgroups are in hybrid mode). So the test does what a runtime does: it unpacks the layers into
a folder and runs the image's entrypoint and command chrooted into it, as the image's user, as
PID 1 of a new PID namespace. A missing library or file would fail it: the folder holds only the
image's files.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import tarfile
import uuid
from pathlib import Path

import mlship
import numpy as np
import pytest
from http_helpers import infer_body, request
from mlship import _ship_layout as layout
from mlship._cli import main
from ship_helpers import child_pid, running

pytestmark = [
    pytest.mark.skipif(shutil.which("podman") is None, reason="needs podman (make installs it)"),
    pytest.mark.skipif(os.geteuid() != 0, reason="chroot and PID namespaces need root, as on CI"),
]


def podman(*args: str, timeout: float = 300) -> str:
    return subprocess.run(["podman", *args], capture_output=True, text=True, timeout=timeout, check=True).stdout


def _safe_paths_exact_modes(member: tarfile.TarInfo, path: str) -> tarfile.TarInfo:
    """Refuses what the "tar" filter refuses (paths leaving the root, ...) but keeps every mode bit,
    since /tmp's sticky, world-writable mode is part of what is tested."""
    tarfile.tar_filter(member, path)
    return member


# What a container runtime puts in /dev of every container (an image has none of its own).
RUNTIME_DEVICES = {"null": (1, 3), "zero": (1, 5), "random": (1, 8), "urandom": (1, 9)}


def add_runtime_devices(root: Path) -> None:
    """Device nodes as a runtime provides them; LibTorch seeds its generator from /dev/urandom."""
    (root / "dev").mkdir(exist_ok=True)
    for name, (major, minor) in RUNTIME_DEVICES.items():
        os.mknod(root / "dev" / name, stat.S_IFCHR | 0o666, os.makedev(major, minor))
        (root / "dev" / name).chmod(0o666)


def unpack(oci: Path, root: Path) -> dict:
    """Extracts every layer of the OCI layout's only image into ``root``; returns the image config."""
    (entry,) = json.loads((oci / "index.json").read_text())["manifests"]
    blob = lambda digest: oci / "blobs" / digest.replace(":", "/")
    manifest = json.loads(blob(entry["digest"]).read_text())
    root.mkdir()
    for layer in manifest["layers"]:
        with tarfile.open(blob(layer["digest"])) as tar:
            tar.extractall(root, filter=_safe_paths_exact_modes)
    return json.loads(blob(manifest["config"]["digest"]).read_text())["config"]


@pytest.fixture(scope="module", params=["native", "python"])
def image(request, digits_model, tmp_path_factory):
    """The digits model built into an image (mlship-server, or with --python the Python server), unpacked;
    removed from podman's storage afterwards."""
    folder = tmp_path_factory.mktemp("image")
    model = folder / "digits.pt"
    digits_model.save(str(model))
    tag = f"localhost/mlship-test-digits:{uuid.uuid4().hex[:8]}"
    python = ["--python"] if request.param == "python" else []
    try:
        assert main(["containerize", str(model), "-t", tag, "--instances", "1", "--drain-timeout-ms", "5000",
                     *python, "--oci", str(folder / "oci")]) == 0
        inspected = json.loads(podman("image", "inspect", tag))[0]
        config = unpack(folder / "oci", folder / "root")
        yield {"kind": request.param, "tag": tag, "inspect": inspected, "config": config, "root": folder / "root",
               "model": model}
    finally:
        subprocess.run(["podman", "rmi", "-f", tag], check=False, capture_output=True, timeout=120)


def test_the_image_holds_only_the_server_its_libraries_and_the_model(image):
    root: Path = image["root"]
    files = sorted("/" + str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())
    assert layout.SERVER_PATH in files and f"{layout.MODELS_DIR}/digits.pt" in files
    assert f"{layout.SITE_DIR}/torch/lib/libtorch_cpu.so" in files
    pythonic = [f for f in files if "python" in Path(f).name.lower() or f.endswith(".py")]
    if image["kind"] == "native":
        assert not pythonic, "no Python in the image"
    else:
        # The interpreter and the traced modules: mlship's, numpy's, the standard library's; not
        # torch's Python package (the server does not import it), nor the standard library's tests.
        assert f"{layout.SITE_DIR}/mlship/_cli.py" in files and f"{layout.SITE_DIR}/numpy/__init__.py" in files
        assert f"{layout.SITE_DIR}/torch/__init__.py" not in files
        assert not [f for f in files if "/test/" in f]
    assert not (root / "bin" / "sh").exists() and not (root / "usr" / "bin").exists(), "no shell, no tools"
    interpreter = (str(Path(os.path.realpath(sys.executable)).parents[1]) + "/",) if image["kind"] == "python" else ()
    allowed = ("/opt/mlship/", "/models/", "/lib/", "/lib64/", "/usr/lib/", "/etc/passwd", "/etc/group", *interpreter)
    assert all(f.startswith(allowed) for f in files), [f for f in files if not f.startswith(allowed)]
    assert (root / "tmp").stat().st_mode & 0o1777 == 0o1777


def test_the_image_config_runs_as_non_root_with_a_health_check(image):
    config, inspected = image["config"], image["inspect"]
    assert config["User"] == f"{layout.USER_ID}:{layout.USER_ID}"
    if image["kind"] == "native":
        assert config["Entrypoint"] == [layout.SERVER_PATH]
    else:
        assert config["Entrypoint"] == [os.path.realpath(sys.executable), "-m", "mlship", "serve"]
    assert config["Cmd"][:3] == [f"{layout.MODELS_DIR}/digits.pt", "--name", "digits"]
    assert inspected["Config"]["StopSignal"] == "SIGTERM"
    health = inspected["Healthcheck"]["Test"]
    assert health[0] == "CMD" and health[1] == layout.HEALTHCHECK_TOOL and health[-1].endswith(layout.HEALTH_READY)
    # Smaller than the environment it came from (the figure is in docs/shipping.md).
    assert inspected["Size"] < 0.5 * image_venv_bytes()


def image_venv_bytes() -> int:
    from mlship._ship_rootfs import venv_size_bytes

    return venv_size_bytes()


def test_the_unpacked_image_serves_and_drains_on_sigterm(image, digits):
    """Entrypoint + command from the image config, in a chroot of the layers only, as the image's user."""
    config, root = image["config"], image["root"]
    add_runtime_devices(root)
    command = list(config["Cmd"])
    command[command.index("--host") + 1] = "127.0.0.1"  # loopback only in tests
    command[command.index("--port") + 1] = "0"
    token = uuid.uuid4().hex
    env = dict(e.split("=", 1) for e in config.get("Env", []))
    env["MLSHIP_TOKEN"] = token
    user = config["User"]
    cmd = ["unshare", "--pid", "--fork", "chroot", f"--userspec={user}", str(root), *config["Entrypoint"], *command]
    with running(cmd, env=env) as server:  # the image's environment only
        server.signal_pid = child_pid(server.proc.pid)  # the server: PID 1 in its namespace
        status, _, _ = request(server.url, "GET", layout.HEALTH_READY)
        assert status == 200
        # The image's own health check command, with the test's port, inside the same root.
        health = image["inspect"]["Healthcheck"]["Test"][1:]
        health[-1] = health[-1].replace(f":{layout.PORT}/", f":{server.url.rsplit(':', 1)[1]}/")
        probed = subprocess.run(["chroot", f"--userspec={user}", str(root), *health], check=False, capture_output=True,
                                timeout=30)
        assert probed.returncode == 0, probed.stderr
        x = digits[1][:8]
        expected = mlship.load(str(image["model"]))(x)
        auth = {"Authorization": f"Bearer {token}"}
        for _ in range(3):
            status, body, _ = request(server.url, "POST", "/v2/models/digits/infer", infer_body("x", x),
                                      headers=auth)
            assert status == 200, body
            got = np.array(body["outputs"][0]["data"], dtype=np.float32).reshape(8, 10)
            np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5)
        assert request(server.url, "POST", "/v2/models/digits/infer", infer_body("x", x))[0] == 401
        code, out = server.terminate(timeout=30)
    assert code == 0, out
    assert "stopped" in out and ("SIGTERM, draining" in out or image["kind"] == "python")
