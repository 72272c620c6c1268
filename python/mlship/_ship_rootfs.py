"""The root filesystem of an mlship image: ``mlship-server``, exactly the libraries it links, the models.

The libraries are the ones ``ldd`` resolves for the server on this machine (LibTorch's included),
so the image runs what was tested here, with nothing else: no shell, no package manager, no
Python (unless ``--python`` adds the interpreter and the modules ``_ship_python`` traces). Files under site-packages keep their place relative to it (under ``SITE_DIR``), so the
RUNPATHs that point from ``mlship/bin`` to ``torch/lib`` (and from there to ``torch.libs``) hold
unchanged; the system's libraries keep their absolute paths, which the dynamic loader searches
by default.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
import sysconfig
from dataclasses import dataclass
from pathlib import Path

from mlship import _ship_layout as layout
from mlship._ship_layout import ServedModels
from mlship._ship_python import PythonRuntime

# A statically linked busybox (Debian's busybox-static) for the HEALTHCHECK's HTTP probe.
BUSYBOX_CANDIDATES = ("/bin/busybox", "/usr/bin/busybox")


@dataclass(frozen=True)
class Rootfs:
    """An assembled root filesystem: where it is, and what went in."""

    path: Path
    libraries: tuple[str, ...]  # absolute paths inside the image
    size_bytes: int

    @property
    def library_path(self) -> str:
        """``LD_LIBRARY_PATH`` for the libraries from site-packages. The installed server finds them by
        its RUNPATH already; a server from a build tree carries an absolute one that the image lacks."""
        folders = dict.fromkeys(str(Path(lib).parent) for lib in self.libraries if lib.startswith(layout.SITE_DIR))
        return ":".join(folders)


def site_packages() -> Path:
    """The site-packages that holds mlship's compiled parts and torch."""
    import torch

    return Path(torch.__file__).resolve().parent.parent


def linked_libraries(binary: Path) -> list[Path]:
    """Every shared library ``binary`` loads, as ``ldd`` resolves it here (the loader included).

    Raises RuntimeError when one is not found: the image would not start.
    """
    out = subprocess.run(["ldd", str(binary)], check=False, capture_output=True, text=True, timeout=60)
    if out.returncode != 0:
        raise RuntimeError(f"ldd {binary} failed: {out.stderr.strip() or out.stdout.strip()}")
    missing = re.findall(r"^\s*(\S+) => not found", out.stdout, re.MULTILINE)
    if missing:
        raise RuntimeError(f"{binary} links libraries this machine does not have: {', '.join(missing)}")
    found = re.findall(r"=> (/\S+) \(0x", out.stdout) + re.findall(r"^\s*(/\S+) \(0x", out.stdout, re.MULTILINE)
    return [Path(p) for p in dict.fromkeys(found)]


def image_path(path: Path, site: Path) -> str:
    """Where a file of this machine goes in the image: under the name it was asked for, in its
    folder's place (a symlinked ``libgomp.so.1`` stays ``libgomp.so.1``)."""
    located = Path(os.path.realpath(path.parent)) / path.name
    if located.is_relative_to(site):
        return f"{layout.SITE_DIR}/{located.relative_to(site)}"
    return str(path)  # a system library: same path (the loader searches /lib/<triplet> by default)


def assemble(served: ServedModels, dest: Path, server: Path, python: PythonRuntime | None = None) -> Rootfs:
    """Writes the root filesystem under ``dest`` (which must not exist yet); with ``python``, also
    the interpreter and the modules the Python server imports (``_ship_python``)."""
    site = site_packages()
    dest.mkdir(parents=True)
    libraries: dict[str, None] = {}
    # The loader is copied under the name the binary asks for; libraries by the name they are
    # asked for, with the content of the file the name resolves to (no symlinks to chase).
    for binary in [server, *(python.extensions if python else ())]:
        for lib in linked_libraries(binary):
            inside = image_path(lib, site)
            if inside not in libraries:
                _copy(Path(os.path.realpath(lib)), dest, inside)
                libraries[inside] = None
    _copy(server, dest, layout.SERVER_PATH)
    if python is not None:
        _copy(Path(python.interpreter), dest, python.interpreter)
        for source, inside in python.files:
            _copy(source, dest, inside)
    _copy(_busybox(), dest, layout.HEALTHCHECK_TOOL)
    for file in served.files():
        relative = file.relative_to(served.source) if served.is_repository else file.name
        _copy(file, dest, f"{layout.MODELS_DIR}/{relative}")
    _write(dest, "/etc/passwd", f"root:x:0:0:root:/:/sbin/nologin\nmlship:x:{layout.USER_ID}:{layout.USER_ID}:"
           f"mlship:/nonexistent:/sbin/nologin\n")
    _write(dest, "/etc/group", f"root:x:0:\nmlship:x:{layout.USER_ID}:\n")
    tmp = dest / "tmp"
    tmp.mkdir()
    tmp.chmod(0o1777)  # sticky and world-writable, like any /tmp: .pt2 packages unpack here
    size = sum(p.stat().st_size for p in dest.rglob("*") if p.is_file() and not p.is_symlink())
    return Rootfs(dest, tuple(libraries), size)


def _busybox() -> Path:
    for candidate in BUSYBOX_CANDIDATES:
        if Path(candidate).is_file():
            return Path(candidate)
    raise FileNotFoundError("the image's health check needs a static busybox: apt-get install busybox-static")


def _copy(source: Path, root: Path, inside: str) -> None:
    target = root / inside.lstrip("/")
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, target)
    # Readable by the image's non-root user; executable where the source was.
    mode = source.stat().st_mode
    target.chmod(0o755 if mode & 0o111 else 0o644)


def _write(root: Path, inside: str, text: str) -> None:
    target = root / inside.lstrip("/")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text)
    target.chmod(0o644)


@functools.lru_cache(maxsize=1)  # walking a 2 GB environment takes seconds; it does not change mid-build
def venv_size_bytes() -> int:
    """The size of the Python environment the image came from (sys.prefix), for comparison."""
    prefix = Path(sysconfig.get_paths()["data"])
    return sum(p.lstat().st_size for p in prefix.rglob("*") if p.is_file() and not p.is_symlink())
