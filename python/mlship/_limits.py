"""Limits: what one HTTP client can make a deployment hold."""

from __future__ import annotations

import dataclasses
from typing import Any

from mlship import _options


@dataclasses.dataclass(frozen=True)
class Limits:
    """Bounds the HTTP server puts on untrusted requests. Defaults suit most uses.

    Attributes
    ----------
    max_body_bytes : int
        Largest request body; larger requests get 413 before their body is read.
        Default 64 MiB.
    max_header_bytes : int
        Largest request line plus headers; larger get 431. Default 16 KiB.
    max_connections : int
        Most connections open at once; beyond it new ones get 503 and are closed.
        Default 1024 (keep it under the process's open-file limit).
    max_inflight_bytes : int
        Most bytes all requests in flight may hold together (each counts twice its body,
        from its header until it is answered); beyond it new requests get 503 with
        ``Retry-After``. Default 512 MiB; 0 turns the budget off.
    max_json_depth : int
        Deepest JSON nesting accepted (nested ``data`` of rank r needs r + 3). Deeper
        requests get 400 before they are built. Default 64.
    max_elements_per_tensor : int
        Most elements in one input or output tensor; beyond it 413. Default 64 Mi.
    idle_timeout_ms : int
        How long a keep-alive connection may sit idle, and the longest one read or
        write may take. Default 60 000.
    drain_timeout_ms : int
        How long ``stop()`` waits for HTTP requests in flight. Default 30 000.
    io_threads : int
        Threads doing network I/O, parsing and encoding (not inference). Default 2.

    Examples
    --------
    >>> import mlship
    >>> mlship.Limits(max_body_bytes=1 << 20).max_body_bytes
    1048576
    """

    max_body_bytes: int = _options.default("max_body_bytes")
    max_header_bytes: int = _options.default("max_header_bytes")
    max_connections: int = _options.default("max_connections")
    max_inflight_bytes: int = _options.default("max_inflight_bytes")
    max_json_depth: int = _options.default("max_json_depth")
    max_elements_per_tensor: int = _options.default("max_elements_per_tensor")
    idle_timeout_ms: int = _options.default("idle_timeout_ms")
    drain_timeout_ms: int = _options.default("drain_timeout_ms")
    io_threads: int = _options.default("io_threads")

    def __post_init__(self) -> None:
        # Checked by the options schema in the core, the one place the rules live.
        _options.check(self.as_options(), ("server",))

    def as_options(self) -> dict[str, Any]:
        return dataclasses.asdict(self)
