"""mlship end to end: train a small model, load it into the native engine, check it, measure it,
optimize it and deploy the best variant.

Run with `make demo`. Each stage prints what it did.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "python"))
import models  # noqa: E402

import mlship  # noqa: E402


def stage(title: str) -> None:
    print(f"\n=== {title}")


def main() -> None:
    stage("1. Train a 64-256-256-10 MLP on scikit-learn's bundled digits")
    X_train, X_test, y_train, y_test = models.digits_split()
    start = time.perf_counter()
    net = models.train(models.DigitsMLP(), X_train, y_train, epochs=15)
    with torch.no_grad():
        eager_pred = net(torch.from_numpy(X_test)).argmax(1).numpy()
    print(f"trained in {time.perf_counter() - start:.1f}s; eager accuracy {np.mean(eager_pred == y_test):.3f} "
          f"on {len(y_test)} held-out digits")

    stage("2. Load it into mlship's C++ engine")
    model = mlship.load(net, example_inputs=X_test[:1])
    print(model)
    print(f"how: {model.how_loaded}; frozen+optimized: {model.optimized}")

    stage("3. Check accuracy through mlship on the held-out split")
    pred = model(X_test).argmax(1)
    accuracy = float(np.mean(pred == y_test))
    print(f"mlship accuracy {accuracy:.3f}; predictions identical to eager: {bool(np.array_equal(pred, eager_pred))}")
    if accuracy < 0.9:
        raise SystemExit(f"accuracy {accuracy:.3f} is below 0.9: something is wrong")

    stage("4. Save and reload (the signature travels with the file)")
    path = ROOT / "build" / "demo" / "digits.pt"
    path.parent.mkdir(parents=True, exist_ok=True)
    model.save(str(path))
    again = mlship.load(path)
    print(f"saved to {path.relative_to(ROOT)}; reloaded signature {again.signature}")

    stage("5. Bad input gets a clear error, and the model keeps serving")
    try:
        model(np.zeros((2, 63), np.float32))
    except mlship.InvalidInputError as e:
        print(f"InvalidInputError: {e}")
    print(f"next call still works: {model(X_test[:2]).argmax(1)}")

    stage("6. Engine benchmark: TorchScript from Python vs mlship (quick run; `make bench` for the full one)")
    subprocess.run([sys.executable, str(ROOT / "bench" / "engine_bench.py"), "--quick"], check=True)

    stage("7. mlship.optimize: int8, fp16, bf16, pruning, low-rank; keep the fastest within 1 accuracy point")
    report = mlship.optimize(model, validation=(X_test, y_test), max_drop=0.01)
    print(report)

    stage("8. Deploy the best candidate")
    with mlship.deploy(report.best, name="digits", port=0) as dep:
        served = dep.predict(X_test[:8]).argmax(1)
        print(f"{report.best_method} serving at {dep.url}; predictions {served.tolist()} "
              f"for labels {y_test[:8].tolist()}")


if __name__ == "__main__":
    main()
