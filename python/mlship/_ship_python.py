"""What ``mlship containerize --python`` adds to the image: the interpreter and the Python files the
Python server really imports.

The set is traced, not guessed: ``mlship serve`` is started here on the same models with
``python -X importtime``, and every module it imported before it printed its URL goes in (its
source, or its extension module and the libraries that links). That keeps torch's Python
package, the test suites and everything else the server does not import out of the image. A
module imported only later (by code paths the start did not run) is missing, and fails loudly.
"""

from __future__ import annotations

import importlib.util
import os
import re
import signal
import subprocess
import sys
import sysconfig
from dataclasses import dataclass
from pathlib import Path

from mlship import _ship_layout as layout
from mlship._ship_layout import ServedModels


@dataclass(frozen=True)
class PythonRuntime:
    """The interpreter and modules to copy: ``files`` as (source here, path in the image)."""

    interpreter: str  # its path here, which is also its path in the image (its prefix is found from it)
    files: tuple[tuple[Path, str], ...]
    extensions: tuple[Path, ...]  # ELF files whose linked libraries the image needs too

    def entrypoint(self) -> list[str]:
        return [self.interpreter, "-m", "mlship", "serve"]


def traced_modules(served: ServedModels, timeout_s: float = 120) -> list[str]:
    """The modules ``mlship serve`` imports on these models, up to the line with its URL."""
    args = served.server_args(host="127.0.0.1", port=0)
    # The image's path of the model (first) or the repository (after --repository) -> this machine's.
    args[1 if served.is_repository else 0] = str(served.source)
    proc = subprocess.Popen([sys.executable, "-X", "importtime", "-m", "mlship", "serve", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        for line in proc.stdout:
            if " at http://" in line:
                break
        else:
            raise RuntimeError(f"mlship serve did not start here to trace its imports: {proc.stderr.read()[-2000:]}")
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
        _, err = proc.communicate(timeout=timeout_s)
    return [m.group(1) for m in re.finditer(r"^import time:\s+\d+ \|\s+\d+ \|\s+(\S+)$", err, re.MULTILINE)]


def runtime(modules: list[str]) -> PythonRuntime:
    """Maps each module to its file and to where it goes: the standard library at its own path,
    site-packages (and an editable mlship's sources) under ``SITE_DIR``."""
    paths = sysconfig.get_paths()
    site = Path(paths["purelib"]).resolve()
    stdlib = {Path(paths["stdlib"]).resolve(), Path(paths["platstdlib"]).resolve()}
    mlship_src = Path(importlib.util.find_spec("mlship").origin).resolve().parent
    files: dict[str, Path] = {}
    # os.py is frozen into the interpreter, but its file is the landmark by which the interpreter finds
    # its standard library; `-m mlship` runs mlship.__main__ through runpy, which importtime does not list.
    landmark = Path(paths["stdlib"]) / "os.py"
    files[str(landmark.resolve())] = landmark.resolve()
    extensions = []
    for name in dict.fromkeys([*modules, "runpy", "mlship.__main__"]):
        try:
            spec = importlib.util.find_spec(name)
        except (ImportError, ValueError):  # a name some module registered by hand (no file behind it)
            continue
        if spec is None or spec.origin in (None, "built-in", "frozen") or not os.path.isfile(spec.origin):
            continue
        origin = Path(spec.origin).resolve()
        if origin.is_relative_to(mlship_src):
            inside = f"{layout.SITE_DIR}/mlship/{origin.relative_to(mlship_src)}"
        elif origin.is_relative_to(site):
            inside = f"{layout.SITE_DIR}/{origin.relative_to(site)}"
        elif any(origin.is_relative_to(s) for s in stdlib):
            inside = str(origin)
        else:
            raise RuntimeError(f"module {name} lives at {origin}, outside the standard library and site-packages")
        files[inside] = origin
        if origin.suffix == ".so":
            extensions.append(origin)
    interpreter = os.path.realpath(sys.executable)
    extensions.append(Path(interpreter))
    return PythonRuntime(interpreter, tuple((src, inside) for inside, src in files.items()), tuple(extensions))
