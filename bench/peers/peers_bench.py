"""Peers, side by side (issue 22): the same TorchScript models served by mlship and by the servers
users would pick instead, one server at a time, each checked for correct answers (against the
torch model's own output) before `wrk` loads it with that server's own request format.

Not part of `make test`. Peers run from their own virtual environments (outside the repository),
made with `torch==2.13.0` pinned on every line:

    python3 -m venv /work/peers-venv && /work/peers-venv/bin/pip install torch==2.13.0 numpy \
        fastapi uvicorn gunicorn "ray[serve]" litserve torchserve torch-model-archiver
    python3 -m venv /work/peers-venv-triton && /work/peers-venv-triton/bin/pip install torch==2.13.0 nvidia-pytriton
    python3 -m venv /work/peers-venv-bento && /work/peers-venv-bento/bin/pip install torch==2.13.0 bentoml
    apt-get install openjdk-17-jre-headless wrk                     # TorchServe's Java, the load client

    .venv/bin/python bench/peers/peers_bench.py [--seconds 5] [--models mlp,cnn] [--servers mlship,fastapi,...]

Models: the digits MLP (64-256-256-10, FP32[N,64]) at concurrency 1/8/32/64 and the ResNet-style
CNN of tests/python/architectures.py (FP32[N,1,64,64]) and its transformer encoder classifier
(EncoderClassifier(vocab 1000, width 128, 2 layers, 4 heads), INT64[N,32] token ids, all requests
of the same length) at 8/32. Each request is one row. The "ceiling" row is the model's own
batched throughput without a server (torch, batches of B: the better of one process of 2 threads
and two processes of 1 thread each, run side by side), rows/s.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
sys.path.insert(0, str(ROOT / "tests" / "python"))
import architectures  # noqa: E402
import models  # noqa: E402

import mlship  # noqa: E402

CONCURRENCY = {"mlp": (1, 8, 32, 64), "cnn": (8, 32), "enc": (8, 32)}
ROW_SHAPE = {"mlp": (64,), "cnn": (1, 64, 64), "enc": (32,)}
MAX_BATCH = {"mlp": 32, "cnn": 8, "enc": 8}
DTYPE = {"mlp": "float32", "cnn": "float32", "enc": "int64"}
KSERVE_DTYPE = {"float32": "FP32", "int64": "INT64"}
ORDER = ("mlship", "fastapi", "ray", "litserve", "torchserve", "pytriton", "bentoml")

# How each server is configured (printed with the table).
CONFIG = {
    "mlship": "mlship serve; MLP: --max-batch-size 32 (defaults otherwise); CNN and encoder: --instances 2 "
              "--intra-op-threads 1 --max-batch-size 8 (docs/serving.md: compute-bound -> instances=cores, 1 thread; "
              "mlship tune's pick for the CNN)",
    "fastapi": "gunicorn -k uvicorn.workers.UvicornWorker -w 2, 1 torch thread per worker, inference_mode; "
               "no batching (FastAPI has none)",
    "ray": "Ray Serve, 1 replica of 1 torch thread (the other core for the proxy and controller), "
           "@serve.batch(max_batch_size=B, batch_wait_timeout_s=0.005), max_ongoing_requests=128, ray.init(num_cpus=1)",
    "litserve": "LitServe, accelerator=cpu, workers_per_device=2 (1 torch thread each), "
                "LitAPI(max_batch_size=B, batch_timeout=0.005)",
    "torchserve": "TorchServe 0.12 (OpenJDK 17), minWorkers=maxWorkers=2 (1 torch thread each), batchSize=B, "
                  "maxBatchDelay=5 ms, token auth off, custom handler",
    "pytriton": "Triton via PyTriton, 2 instances (infer functions, 1 torch thread each), "
                "dynamic batching max_batch_size=B, max_queue_delay 5 ms, KServe v2 JSON",
    "bentoml": "BentoML 1.4 service, workers=2 (1 torch thread each), "
               "@bentoml.api(batchable=True, max_batch_size=B, max_latency_ms=1000)",
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3}


def _ms(text: str) -> float:
    value, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", text).groups()
    return float(value) * _UNITS[unit]


def wrk(url: str, lua: Path, body_file: Path, connections: int, seconds: float) -> dict[str, float]:
    out = subprocess.run(
        ["wrk", f"-t{min(2, connections)}", f"-c{connections}", f"-d{seconds:g}s", "--timeout", "10s", "--latency",
         "-s", str(lua), url],
        capture_output=True, text=True, timeout=seconds + 60, check=True,
        env=dict(os.environ, PEERS_BODY=str(body_file))).stdout
    result = {
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
        "p50_ms": _ms(re.search(r"^\s+50%\s+(\S+)", out, re.M).group(1)),
        "p99_ms": _ms(re.search(r"^\s+99%\s+(\S+)", out, re.M).group(1)),
    }
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    result["errors"] = (int(bad.group(1)) if bad else 0) + (sum(map(int, errors.groups())) if errors else 0)
    return result


def post(port: int, path: str, body: str, timeout: float = 30) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("POST", path, body=body, headers={"Content-Type": "application/json"})
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def flat(value: Any) -> np.ndarray:
    return np.asarray(value, dtype=np.float64).ravel()


class Peer:
    """One server: how to start it, its request body, and how to read its answer."""

    def __init__(self, name: str, cmd: list[str], env: dict[str, str], cwd: Path, port: int, path: str,
                 body: str, lua: str, parse: Callable[[dict], np.ndarray], log: Path,
                 start_timeout: float = 180) -> None:
        self.name, self.cmd, self.env, self.cwd, self.port, self.path = name, cmd, env, cwd, port, path
        self.body, self.lua, self.parse, self.log, self.start_timeout = body, lua, parse, log, start_timeout
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(self.cmd, cwd=self.cwd, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                                         start_new_session=True)

    def first_answer(self) -> np.ndarray:
        deadline = time.monotonic() + self.start_timeout
        last = ""
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"exited with {self.proc.returncode}: {self.log_tail()}")
            try:
                status, data = post(self.port, self.path, self.body)
                if status == 200:
                    return self.parse(json.loads(data))
                last = f"HTTP {status}: {data[:300]!r}"
            except (OSError, http.client.HTTPException) as e:
                last = repr(e)
            time.sleep(0.5)
        raise RuntimeError(f"no answer within {self.start_timeout:g} s (last: {last}); log: {self.log_tail()}")

    def log_tail(self, lines: int = 6) -> str:
        try:
            text = self.log.read_text(errors="replace").strip().splitlines()
        except OSError:
            return ""
        return " | ".join(line.strip() for line in text[-lines:])[-1200:]

    def stop(self) -> None:
        if self.proc is None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(timeout=30)
        except ProcessLookupError:
            pass
        except subprocess.TimeoutExpired:
            pass
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass


_CEILING = r"""
import sys, time, torch
torch.set_num_threads(int(sys.argv[3]))
m = torch.jit.load(sys.argv[1]).eval()
row = torch.load(sys.argv[2])
x = row.expand(int(sys.argv[4]), *row.shape[1:]).contiguous()
with torch.inference_mode():
    for _ in range(3):
        m(x)
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < float(sys.argv[5]):
        m(x)
        n += len(x)
print(n / (time.perf_counter() - t0))
"""


def ceiling(ts: Path, row: torch.Tensor, batch: int, work: Path, seconds: float = 3.0) -> tuple[float, str]:
    """The model's own batched throughput with no server, rows/s at `batch` rows: the better of
    one process of 2 torch threads and two processes of 1 thread side by side (summed)."""
    row_file = work / f"{ts.stem}-row.pt"
    torch.save(row, row_file)

    def run(procs: int, threads: int) -> float:
        ps = [subprocess.Popen([sys.executable, "-c", _CEILING, str(ts), str(row_file), str(threads), str(batch),
                                str(seconds)], stdout=subprocess.PIPE, text=True) for _ in range(procs)]
        return sum(float(p.communicate(timeout=120)[0].strip().splitlines()[-1]) for p in ps)

    best = max((run(1, 2), "1 process x 2 threads"), (run(2, 1), "2 processes x 1 thread"))
    return best


def build_models(work: Path) -> dict[str, dict[str, Any]]:
    torch.manual_seed(0)
    X_train, X_test, y_train, _ = models.digits_split()
    mlp = torch.jit.script(models.train(models.DigitsMLP(), X_train, y_train, epochs=2).eval())
    cnn_eager = architectures.randomize_batch_norms(architectures.ResNetSmall()).eval()
    image = torch.from_numpy(np.random.default_rng(0).random((1, 1, 64, 64), dtype=np.float32))
    cnn = torch.jit.trace(cnn_eager, image)
    torch.manual_seed(0)
    enc_eager = architectures.EncoderClassifier(vocab=1000, width=128, layers=2, heads=4, seq=32).eval()
    ids = torch.randint(0, 1000, (1, 32), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        enc = torch.jit.trace(enc_eager, ids, check_trace=False)
    out = {}
    for name, module, row in (("mlp", mlp, torch.from_numpy(X_test[:1].astype(np.float32))), ("cnn", cnn, image),
                              ("enc", enc, ids)):
        ts = work / f"{name}.pt"
        module.save(str(ts))
        ml = work / f"{name}-mlship.pt"
        mlship.load(str(ts), example_inputs=row).save(str(ml))
        input_name = mlship.load(str(ml)).signature.inputs[0].name
        with torch.inference_mode():
            ref = module(row).numpy()
        out[name] = {"ts": ts, "mlship": ml, "row": row, "ref": ref, "input": input_name, "module": module}
    return out


def make_peer(server: str, model: str, spec: dict[str, Any], work: Path, pythons: dict[str, Path]) -> Peer:
    row: torch.Tensor = spec["row"]
    data = row.numpy().ravel().tolist() if DTYPE[model] == "int64" else \
        [round(float(v), 7) for v in row.numpy().ravel()]
    port = free_port()
    log = work / f"{server}-{model}.log"
    shape = ROW_SHAPE[model]
    batch = MAX_BATCH[model]
    base_env = dict(os.environ, PEERS_MODEL=str(spec["ts"]), PEERS_ROW_SHAPE=",".join(map(str, shape)),
                    PEERS_MAX_BATCH=str(batch), PEERS_PORT=str(port), PEERS_THREADS="1", PEERS_DTYPE=DTYPE[model],
                    PYTHONPATH=str(HERE), OMP_NUM_THREADS="1")
    base_env.pop("VIRTUAL_ENV", None)
    data_body = json.dumps({"data": data})

    def data_out(r: dict) -> np.ndarray:
        return flat(r["output"])

    if server == "mlship":
        flags = ["--max-batch-size", "32"] if model == "mlp" else \
            ["--instances", "2", "--intra-op-threads", "1", "--max-batch-size", "8"]
        body = json.dumps({"inputs": [{"name": spec["input"], "shape": list(row.shape),
                                       "datatype": KSERVE_DTYPE[DTYPE[model]], "data": data}]})
        env = dict(os.environ)
        return Peer(server, [sys.executable, "-m", "mlship", "serve", str(spec["mlship"]), "--name", model,
                             "--port", str(port), *flags], env, ROOT, port, f"/v2/models/{model}/infer", body,
                    "kserve.lua", lambda r: flat(r["outputs"][0]["data"]), log)
    py = pythons["peers"]
    env = dict(base_env, PATH=f"{py.parent}:{os.environ['PATH']}")
    if server == "fastapi":
        return Peer(server, [str(py.parent / "gunicorn"), "-k", "uvicorn.workers.UvicornWorker", "-w", "2", "-b",
                             f"127.0.0.1:{port}", "--log-level", "warning", "fastapi_server:app"],
                    env, HERE, port, "/predict", data_body, "data.lua", data_out, log)
    if server == "ray":
        env = dict(env, PEERS_THREADS="1", OMP_NUM_THREADS="1", RAY_USAGE_STATS_ENABLED="0")
        return Peer(server, [str(py), "ray_server.py"], env, HERE, port, "/predict", data_body, "data.lua",
                    data_out, log, start_timeout=240)
    if server == "litserve":
        return Peer(server, [str(py), "litserve_server.py"], env, HERE, port, "/predict", data_body, "data.lua",
                    data_out, log)
    if server == "torchserve":
        store = work / f"ts-store-{model}"
        store.mkdir(exist_ok=True)
        (work / "peer.json").write_text(json.dumps({"row_shape": list(shape), "threads": 1, "dtype": DTYPE[model]}))
        subprocess.run([str(py.parent / "torch-model-archiver"), "--model-name", model, "--version", "1.0",
                        "--serialized-file", str(spec["ts"]), "--handler", str(HERE / "torchserve_handler.py"),
                        "--extra-files", str(work / "peer.json"), "--export-path", str(store), "--force"],
                       check=True, capture_output=True, text=True, env=env)
        conf = work / f"ts-{model}.properties"
        models_conf = {model: {"1.0": {"defaultVersion": True, "marName": f"{model}.mar", "minWorkers": 2,
                                       "maxWorkers": 2, "batchSize": batch, "maxBatchDelay": 5,
                                       "responseTimeout": 120}}}
        conf.write_text(
            f"inference_address=http://127.0.0.1:{port}\n"
            f"management_address=http://127.0.0.1:{free_port()}\n"
            f"metrics_address=http://127.0.0.1:{free_port()}\n"
            f"model_store={store}\n"
            f"load_models={model}.mar\n"
            f"models={json.dumps(models_conf)}\n"
            "disable_token_authorization=true\n"
            "enable_envvars_config=false\n"
            "install_py_dep_per_model=false\n"
            f"default_workers_per_model=2\n")
        env = dict(env, TS_DISABLE_SYSTEM_METRICS="true", JAVA_HOME=os.environ.get("JAVA_HOME", ""))
        if not env["JAVA_HOME"]:
            env.pop("JAVA_HOME")
        return Peer(server, [str(py.parent / "torchserve"), "--start", "--foreground", "--ncs",
                             "--disable-token-auth", "--ts-config", str(conf), "--model-store", str(store)],
                    env, work, port, f"/predictions/{model}", data_body, "data.lua", data_out, log)
    if server == "pytriton":
        tpy = pythons["triton"]
        env = dict(env, PATH=f"{tpy.parent}:{os.environ['PATH']}", PEERS_PORT2=str(free_port()),
                   PEERS_PORT3=str(free_port()))
        # Triton's Python-backend stub links the system libpython3.11 (Debian's 3.11.2) but runs
        # the venv's interpreter stdlib; when that is another 3.11 build (pyenv's), the stub's
        # multiprocessing fails ('_thread.RLock' has no '_recursion_count'). Load the same
        # interpreter's libpython instead.
        libdir = Path(sys.base_prefix) / "lib"
        if (libdir / "libpython3.11.so.1.0").exists():
            env["LD_LIBRARY_PATH"] = f"{libdir}:{os.environ.get('LD_LIBRARY_PATH', '')}"
        body = json.dumps({"inputs": [{"name": "x", "shape": list(row.shape), "datatype": KSERVE_DTYPE[DTYPE[model]],
                                       "data": data}]})
        return Peer(server, [str(tpy), "pytriton_server.py"], env, HERE, port, "/v2/models/peer/infer", body,
                    "kserve.lua", lambda r: flat(r["outputs"][0]["data"]), log)
    if server == "bentoml":
        bpy = pythons["bento"]
        env = dict(env, PATH=f"{bpy.parent}:{os.environ['PATH']}", BENTOML_DO_NOT_TRACK="true")
        body = json.dumps({"x": row.numpy().tolist() if DTYPE[model] == "int64" else row.numpy().round(7).tolist()})
        return Peer(server, [str(bpy.parent / "bentoml"), "serve", "bento_server:Peer", "--host", "127.0.0.1",
                             "--port", str(port)], env, HERE, port, "/predict", body, "bento.lua", flat, log)
    raise ValueError(server)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=5, help="wrk duration per cell")
    parser.add_argument("--models", default="mlp,cnn,enc")
    parser.add_argument("--servers", default=",".join(ORDER))
    parser.add_argument("--peers-python", type=Path, default=Path("/work/peers-venv/bin/python"))
    parser.add_argument("--triton-python", type=Path, default=Path("/work/peers-venv-triton/bin/python"))
    parser.add_argument("--bento-python", type=Path, default=Path("/work/peers-venv-bento/bin/python"))
    parser.add_argument("--json", type=Path, help="write the figures here too")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("peers_bench needs wrk (apt-get install wrk)")
    pythons = {"peers": args.peers_python, "triton": args.triton_python, "bento": args.bento_python}
    servers = [s for s in args.servers.split(",") if s]
    work = Path(tempfile.mkdtemp(prefix="mlship-peers-"))
    specs = build_models(work)
    results: dict[str, dict[str, dict[int, dict[str, float]]]] = {}
    failures: list[str] = []
    ceilings: dict[str, float] = {}
    ceiling_how: dict[str, str] = {}
    print(f"wrk {args.seconds:g} s per cell, {os.cpu_count()} cores shared with wrk; logs in {work}\n", flush=True)
    for model in args.models.split(","):
        spec = specs[model]
        ceilings[model], ceiling_how[model] = ceiling(spec["ts"], spec["row"], MAX_BATCH[model], work)
        print(f"{model}: ceiling (torch, no server, batches of {MAX_BATCH[model]}, {ceiling_how[model]}) "
              f"{ceilings[model]:.0f} rows/s", flush=True)
        results[model] = {}
        for server in servers:
            peer = None
            try:
                peer = make_peer(server, model, spec, work, pythons)
                peer.start()
                got = peer.first_answer()
                ref = spec["ref"].ravel()
                if got.shape != ref.shape or not np.allclose(got, ref, rtol=1e-3, atol=1e-4):
                    raise RuntimeError(f"wrong answer: max |diff| "
                                       f"{np.abs(got - ref).max() if got.shape == ref.shape else got.shape}")
                url = f"http://127.0.0.1:{peer.port}{peer.path}"
                lua = HERE / "lua" / peer.lua
                body_file = work / f"{server}-{model}.json"
                body_file.write_text(peer.body)
                wrk(url, lua, body_file, 8, 1)  # warm-up
                results[model][server] = {}
                for c in CONCURRENCY[model]:
                    r = wrk(url, lua, body_file, c, args.seconds)
                    results[model][server][c] = r
                    print(f"  {model} c{c:<3} {server:<10} {r['rps']:>8.0f} req/s  p50 {r['p50_ms']:8.2f} ms  "
                          f"p99 {r['p99_ms']:8.2f} ms  errors {r['errors']}", flush=True)
            except Exception as e:  # noqa: BLE001 - a peer that fails is reported, the others still run
                msg = f"{server} ({model}): {type(e).__name__}: {str(e)[:1500]}"
                if isinstance(e, subprocess.CalledProcessError):
                    msg += f" stderr: {(e.stderr or '')[-800:]}"
                if peer is not None and not isinstance(e, RuntimeError):
                    msg += f"; log: {peer.log_tail()}"
                failures.append(msg)
                print(f"  FAILED {msg}", flush=True)
                if not isinstance(e, (RuntimeError, subprocess.CalledProcessError)):
                    traceback.print_exc()
            finally:
                if peer is not None:
                    peer.stop()

    header = (f"{'model':<5} | {'conc':>4} | {'server':<10} | {'req/s':>8} | {'p50 ms':>8} | {'p99 ms':>8} | "
              f"{'errors':>6} | {'mlship ÷ peer (req/s)':>21}")
    print("\n" + header)
    print("-" * len(header))
    for model, by_server in results.items():
        for c in CONCURRENCY[model]:
            m = by_server.get("mlship", {}).get(c)
            for server in servers:
                r = by_server.get(server, {}).get(c)
                if r is None:
                    continue
                ratio = "" if server == "mlship" or m is None else f"{m['rps'] / r['rps']:.2f}x"
                print(f"{model:<5} | {c:>4} | {server:<10} | {r['rps']:>8.0f} | {r['p50_ms']:>8.2f} | "
                      f"{r['p99_ms']:>8.2f} | {r['errors']:>6} | {ratio:>21}")
            if m is not None and model != "mlp":
                print(f"{model:<5} | {c:>4} | {'ceiling':<10} | {ceilings[model]:>8.0f} | {'':>8} | {'':>8} | "
                      f"{'':>6} | mlship at {m['rps'] / ceilings[model]:.0%} of it")
    print("\nceilings (the model's own batched throughput, no server): "
          + ", ".join(f"{k} {v:.0f} rows/s ({ceiling_how[k]})" for k, v in ceilings.items()))
    print("\nconfiguration (B = max batch size: MLP 32, CNN and encoder 8):")
    for server in servers:
        print(f"  {server}: {CONFIG[server]}")
    print("\nfailed to install or start:" + ("" if failures else " none"))
    for f in failures:
        print(f"  {f}")
    if args.json:
        args.json.write_text(json.dumps({"results": results, "ceilings": ceilings, "ceiling_how": ceiling_how, "failures": failures,
                                         "seconds": args.seconds}, indent=1))


if __name__ == "__main__":
    main()
