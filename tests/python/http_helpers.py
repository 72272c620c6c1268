"""Raw HTTP for the server tests: http.client, so nothing hides what the server answered."""

from __future__ import annotations

import http.client
import json
from typing import Any
from urllib.parse import urlsplit


def request(
    url: str,
    method: str,
    path: str,
    body: bytes | str | dict | None = None,
    headers: dict[str, str] | None = None,
    timeout: float = 30.0,
) -> tuple[int, Any, dict[str, str]]:
    """One request on a fresh connection: (status, parsed JSON or raw bytes, headers)."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
    try:
        if isinstance(body, dict):
            body = json.dumps(body)
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        raw = response.read()
        kind = response.getheader("Content-Type", "")
        payload: Any = json.loads(raw) if kind.startswith("application/json") and raw else raw
        return response.status, payload, dict(response.getheaders())
    finally:
        conn.close()


def infer_body(name: str, x) -> dict:
    """A KServe v2 JSON request for one FP32 input."""
    return {"inputs": [{"name": name, "shape": list(x.shape), "datatype": "FP32", "data": x.ravel().tolist()}]}
