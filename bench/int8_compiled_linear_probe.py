"""Probe: which int8 product the compiled int8 Linear (``int8+pt2``) should run, by row count.

``torch.export`` and AOTInductor take two int8 weight forms: torch's weight-only kernel
(``aten::_weight_int8pack_mm``, bf16 activations) and a plain fp32 product of the weights widened
in the graph. This script compiles one Linear each way, with the fp32 Linear beside them and
mlship's Int8Linear (which picks one of the two by the row count, ``_WEIGHT_ONLY_MAX_ROWS``), at
two shapes, and prints microseconds per call and the package size at 1, 8, 64 and 512 rows. The
threshold in ``python/mlship/_int8_export.py`` comes from this table.

    python bench/int8_compiled_linear_probe.py
"""

from __future__ import annotations

import os
import tempfile
import time

import torch

from mlship._export import _INDUCTOR_CONFIGS
from mlship._int8_export import _int8_linear_class, _int8_rows


def per_call_us(f, x: torch.Tensor, calls: int = 100) -> float:
    f(x)
    started = time.perf_counter()
    for _ in range(calls):
        f(x)
    return (time.perf_counter() - started) / calls * 1e6


def forms(linear: torch.nn.Linear) -> dict[str, torch.nn.Module]:
    q, scales = _int8_rows(linear.weight.detach())

    class WeightOnly(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.register_buffer("q", q)
            self.register_buffer("s", scales.to(torch.bfloat16))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.ops.aten._weight_int8pack_mm(x.to(torch.bfloat16), self.q, self.s).float()

    class Widened(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.register_buffer("q", q)
            self.register_buffer("s", scales)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.mm(x, self.q.to(x.dtype).t()) * self.s

    return {"fp32": linear, "weight-only": WeightOnly(), "widened": Widened(), "mlship": _int8_linear_class()(linear)}


def main() -> None:
    torch.manual_seed(0)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; us per call (package MB)")
    folder = tempfile.mkdtemp()
    with torch.no_grad():
        for k, n in ((256, 1024), (2048, 2048)):
            compiled = {}
            for name, module in forms(torch.nn.Linear(k, n, bias=False).eval()).items():
                program = torch.export.export(module, (torch.randn(4, k),),
                                              dynamic_shapes=({0: torch.export.Dim("rows", min=1, max=4096)},))
                path = os.path.join(folder, f"{name}-{k}.pt2")
                torch._inductor.aoti_compile_and_package(program, package_path=path, inductor_configs=_INDUCTOR_CONFIGS)
                compiled[name] = (torch._inductor.aoti_load_package(path), os.path.getsize(path) / 1e6)
            print(f"\n{k} -> {n}      " + "".join(f"{name:>20}" for name in compiled))
            for rows in (1, 8, 64, 512):
                x = torch.randn(rows, k)
                cells = "".join(f"{per_call_us(f, x):>12.0f} ({mb:5.2f})" for f, mb in compiled.values())
                print(f"{rows:>4} rows       {cells}")


if __name__ == "__main__":
    main()
