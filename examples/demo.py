"""mlship end to end: train a small model, load it into the native engine, check it, measure it,
optimize it, and serve the best variant.

Run with `make demo`. Each stage prints what it did.
"""

from __future__ import annotations

import concurrent.futures
import http.client
import json
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
    print(f"best: {report.best_method}")

    serve(report.best, X_test, y_test)


def send_traffic(url: str, bodies: list[str], clients: int, per_client: int) -> tuple[list[float], list[dict]]:
    """`clients` threads, each on one keep-alive connection, send `per_client` requests: latencies and answers."""
    host, port = url.removeprefix("http://").split(":")

    def client(k: int) -> tuple[list[float], list[dict]]:
        conn = http.client.HTTPConnection(host, int(port), timeout=30)
        latencies, answers = [], []
        for i in range(per_client):
            start = time.perf_counter()
            conn.request("POST", "/v2/models/digits/infer", body=bodies[(k * per_client + i) % len(bodies)],
                         headers={"Content-Type": "application/json"})
            response = conn.getresponse()
            answers.append(json.loads(response.read()))
            latencies.append(time.perf_counter() - start)
        conn.close()
        return latencies, answers

    with concurrent.futures.ThreadPoolExecutor(clients) as pool:
        results = list(pool.map(client, range(clients)))
    return [t for r in results for t in r[0]], [a for r in results for a in r[1]]


def serve(model: mlship.Model, X_test: np.ndarray, y_test: np.ndarray) -> None:
    stage("8. Deploy the best candidate: dynamic batching on native threads behind a KServe v2 HTTP server")
    name = model.signature.inputs[0].name
    bodies = [json.dumps({"inputs": [{"name": name, "shape": [1, 64], "datatype": "FP32", "data": x.tolist()}]})
              for x in X_test]
    with mlship.deploy(model, name="digits", port=0, max_batch_size=32) as dep:
        print(dep)
        print(f"try it: curl -s {dep.url}/v2/models/digits")
        clients, per_client = 16, 250
        start = time.perf_counter()
        latencies, answers = send_traffic(dep.url, bodies, clients, per_client)
        elapsed = time.perf_counter() - start
        ms = np.array(latencies) * 1e3
        predicted = np.array([np.argmax(a["outputs"][0]["data"]) for a in answers])
        expected = y_test[[(k * per_client + i) % len(bodies) for k in range(clients) for i in range(per_client)]]
        print(f"{len(answers)} HTTP requests from {clients} concurrent clients in {elapsed:.2f}s: "
              f"{len(answers) / elapsed:.0f} req/s (client and server share this machine's cores)")
        print(f"latency ms: p50 {np.percentile(ms, 50):.2f}, p90 {np.percentile(ms, 90):.2f}, "
              f"p99 {np.percentile(ms, 99):.2f}; accuracy over HTTP {np.mean(predicted == expected):.3f}")
        futures = [dep.submit(X_test[i : i + 1]) for i in range(64)]
        agree = all(int(f.result().argmax()) == int(model(X_test[i : i + 1]).argmax()) for i, f in enumerate(futures))
        print(f"in-process dep.submit() for 64 rows agrees with the model: {agree}")
    print("deployment stopped: readiness went false, accepted requests were answered, threads exited")


if __name__ == "__main__":
    main()
