"""Writes the seed corpora of the fuzz targets (corpus/<target>/seed-*): valid inputs and near
misses for each parser, so that fuzzing starts deep in the code. Rerun after changing a target's
input format; files named crash-* (inputs that once crashed, kept as regressions) are left alone.

    python tests/fuzz/make_corpus.py
"""

from __future__ import annotations

import io
import json
import struct
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent


def x_input(shape, data, datatype="FP32", **extra):
    return {"name": "x", "shape": shape, "datatype": datatype, "data": data, **extra}


def decode_seeds() -> dict[str, bytes]:
    json_only = {
        "nested": {"id": "a", "inputs": [x_input([2, 3], [[1, 2, 3], [4.5, -5, 6e-1]]),
                                         {"name": "mask", "shape": [2], "datatype": "BOOL", "data": [True, False]},
                                         {"name": "ids", "shape": [1, 2], "datatype": "INT64",
                                          "data": [9007199254740993, -1]},
                                         {"name": "half", "shape": [1], "datatype": "FP16", "data": [0.5]},
                                         {"name": "bytes", "shape": [2], "datatype": "UINT8", "data": [0, 255]}],
                   "outputs": [{"name": "y", "parameters": {"binary_data": True}}],
                   "parameters": {"binary_data_output": False, "routing_key": "user-1"}},
        "flat": {"inputs": [x_input([1, 3], [1, 2, 3])]},
        "empty": {"inputs": [x_input([0, 3], []), {"name": "mask", "shape": [0], "datatype": "BOOL", "data": []}]},
        "huge-shape": {"inputs": [x_input([1048576, 3], [])]},
        "overflow": {"inputs": [{"name": "x", "shape": [2147483648, 3], "datatype": "FP32",
                                 "parameters": {"binary_data_size": 0}}]},
    }
    seeds = {name: b"\x00" + json.dumps(body).encode() for name, body in json_only.items()}
    header = json.dumps({"inputs": [{"name": "x", "shape": [1, 3], "datatype": "FP32",
                                     "parameters": {"binary_data_size": 12}},
                                    {"name": "half", "shape": [2], "datatype": "FP16",
                                     "parameters": {"binary_data_size": 4}}]}).encode()
    binary = struct.pack("<3f", 1.0, 2.0, 3.0) + np.array([1.5, -2], np.float16).tobytes()
    seeds["binary"] = b"\x01" + struct.pack("<H", len(header)) + header + binary
    return seeds


def tensor_json_seeds() -> dict[str, bytes]:
    # byte 0: datatype index (BOOL UINT8 INT8 INT16 INT32 INT64 FP16 FP32 FP64 UINT16 UINT32 UINT64 BF16)
    # byte 1: declared element count; then the "data" value.
    cases = {"bool": (0, 3, "[true,false,true]"), "uint8": (1, 2, "[0,255]"), "int8": (2, 2, "[-128,127]"),
             "int64-nested": (5, 4, "[[9007199254740993,-1],[0,2]]"), "fp16": (6, 2, "[65504,-0.0]"),
             "fp32": (7, 3, "[1.5,1e-45,3.4e38]"), "fp64-nested": (8, 4, "[[[1,2]],[[3e300,-4]]]"),
             "uint64": (11, 1, "[18446744073709551615]"), "bf16": (12, 1, "[1]"), "fp32-null": (7, 1, "[null]")}
    return {name: bytes([kind, count]) + text.encode() for name, (kind, count, text) in cases.items()}


def http_seeds() -> dict[str, bytes]:
    body = json.dumps({"inputs": [{"name": "x", "shape": [1, 3], "datatype": "FP32", "data": [1, 2, 3]}]})
    token = "t" * 32

    def post(path: str, payload: str, extra: str = "") -> bytes:
        return (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n{extra}"
                f"Content-Length: {len(payload)}\r\n\r\n{payload}").encode()

    chunked = (f"POST /v2/models/doubler/infer HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
               f"Transfer-Encoding: chunked\r\n\r\n{len(body[:10]):x};ext=1\r\n{body[:10]}\r\n"
               f"{len(body[10:]):x}\r\n{body[10:]}\r\n0\r\n\r\n").encode()
    header = json.dumps({"inputs": [{"name": "x", "shape": [1, 3], "datatype": "FP32",
                                     "parameters": {"binary_data_size": 12}}]})
    binary = (f"POST /v2/models/doubler/versions/1/infer HTTP/1.1\r\nHost: 127.0.0.1\r\n"
              f"Content-Type: application/octet-stream\r\nInference-Header-Content-Length: {len(header)}\r\n"
              f"Content-Length: {len(header) + 12}\r\n\r\n{header}").encode() + struct.pack("<3f", 1, 2, 3)
    get = "GET {} HTTP/1.1\r\nHost: 127.0.0.1\r\n{}\r\n"
    seeds = {
        "live": b"\x00" + get.format("/v2/health/live", "").encode(),
        "metadata": b"\x00" + get.format("/v2/models/doubler", "").encode(),
        "server": b"\x00" + get.format("/v2", "Origin: http://evil.example\r\n").encode(),
        "infer": b"\x00" + post("/v2/models/doubler/infer", body),
        "infer-keepalive-twice": b"\x00" + post("/v2/models/doubler/infer", body) * 2,
        "infer-expect": b"\x00" + post("/v2/models/doubler/infer", body, "Expect: 100-continue\r\n"),
        "chunked": b"\x00" + chunked,
        "binary": b"\x00" + binary,
        "token-ok": b"\x01" + post("/v2/models/doubler/infer", body, f"Authorization: Bearer {token}\r\n"),
        "token-missing": b"\x01" + post("/v2/models/doubler/infer", body),
        "repository": b"\x00" + post("/v2/repository/index", "{}"),
        "outcomes": b"\x00" + post("/v2/models/doubler/outcomes", '{"outcomes":[{"id":"a","label":1}]}'),
        "options": b"\x00" + (b"OPTIONS /v2/models/doubler/infer HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                              b"Origin: http://localhost\r\nAccess-Control-Request-Method: POST\r\n\r\n"),
    }
    return seeds


def npy_seeds() -> dict[str, bytes]:
    arrays = {"f32": np.arange(6, dtype=np.float32).reshape(2, 3), "f64-fortran": np.asfortranarray(np.eye(3)),
              "i64": np.array([-1, 2**40], np.int64), "bool": np.array([True, False]),
              "f16-big-endian": np.array([1.5, 2], ">f2"), "u8-scalar": np.array(7, np.uint8),
              "empty": np.zeros((0, 4), np.float32)}
    seeds = {}
    for name, array in arrays.items():
        buffer = io.BytesIO()
        np.save(buffer, array, allow_pickle=False)
        seeds[name] = b"\x00" + buffer.getvalue()  # every dtype, 1 MiB bound
        seeds[name + "-float-only"] = b"\x01" + buffer.getvalue()
    return seeds


def main() -> None:
    for target, seeds in {"kserve_decode": decode_seeds(), "tensor_json": tensor_json_seeds(),
                          "http_request": http_seeds(), "npy": npy_seeds()}.items():
        folder = HERE / "corpus" / target
        folder.mkdir(parents=True, exist_ok=True)
        for old in folder.glob("seed-*"):
            old.unlink()
        for name, data in seeds.items():
            (folder / f"seed-{name}").write_bytes(data)
        print(f"{target}: {len(seeds)} seeds")


if __name__ == "__main__":
    main()
