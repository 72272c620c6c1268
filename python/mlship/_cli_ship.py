"""``mlship containerize`` and ``mlship k8s``: an image of the served models, and manifests for it.

Exposes ``add_parsers(subparsers)`` like the other subcommands; the work is in ``_ship_image``
and ``_ship_k8s``.
"""

from __future__ import annotations

import argparse
import shlex
from typing import Any

from mlship._cli_flags import add_schema_flags, given_options


def _served_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", nargs="?", help="a model file written by mlship (Model.save) or a .pt2 package")
    p.add_argument("--repository", default=None, metavar="DIR",
                   help="a repository folder (mlship repo add ...) to ship instead of one MODEL")
    # The server's own settings (threads, batching, drain timeout, ...), passed to mlship-server.
    add_schema_flags(p, ("server", "model", "version"))


def _served(args: argparse.Namespace) -> Any:
    from mlship._ship_layout import ServedModels

    options = given_options(args)
    for key in ("token", "admin_token", "host", "port", "insecure"):
        if key in options:
            raise ValueError(f"--{key.replace('_', '-')} is set by the image and manifests (tokens come from a "
                             "Secret, the port is fixed); leave it out")
    return ServedModels.of(args.model, args.repository, options.get("name"), options)


def add_parsers(subparsers: Any) -> None:
    """Adds ``containerize`` and ``k8s``."""
    image = subparsers.add_parser(
        "containerize", allow_abbrev=False, help="build an OCI image that serves the model(s) with mlship-server",
        description="Builds, with podman, an image FROM scratch holding mlship-server, exactly the shared libraries "
        "it links (ldd, LibTorch's included), the model file or repository, a non-root user and a HEALTHCHECK on "
        "/v2/health/ready; SIGTERM drains. No Python inside unless --python. Run it with -e MLSHIP_TOKEN=... (binding beyond "
        "loopback needs a token). Example: mlship containerize digits.pt -t digits:1")
    _served_args(image)
    image.add_argument("-t", "--tag", required=True, metavar="NAME:TAG", help="the image's name and tag")
    image.add_argument("--python", action="store_true",
                       help="serve with the Python server (python -m mlship serve) instead: the interpreter and the "
                       "modules it imports (traced here) go into the image too")
    image.add_argument("--keep-build", default=None, metavar="DIR",
                       help="keep the build folder (rootfs/ and Containerfile) here")
    image.add_argument("--oci", default=None, metavar="DIR", help="also write the image as an OCI layout folder")
    image.set_defaults(run=_containerize)

    k8s = subparsers.add_parser(
        "k8s", allow_abbrev=False, help="write Kubernetes (or KServe) manifests for an mlship image",
        description="Writes a Kustomize base (kubectl apply -k DIR) for an image built by mlship containerize: "
        "Deployment (v2 health probes, preStop, grace period covering the drain), Service, "
        "HorizontalPodAutoscaler, PodDisruptionBudget and the token's Secret; with --kserve a ServingRuntime and "
        "an InferenceService instead. Example: mlship k8s digits.pt --image registry.example.com/digits:1 -o k8s/")
    _served_args(k8s)
    k8s.add_argument("--image", required=True, metavar="NAME:TAG", help="the image mlship containerize built")
    k8s.add_argument("--output", "-o", default="k8s", metavar="DIR", help="folder to write (default: k8s)")
    k8s.add_argument("--kserve", action="store_true", help="a KServe ServingRuntime and InferenceService")
    k8s.add_argument("--replicas", type=int, default=2, help="pods at first (default: 2)")
    k8s.add_argument("--min-replicas", type=int, default=2, help="autoscaler's minimum (default: 2)")
    k8s.add_argument("--max-replicas", type=int, default=10, help="autoscaler's maximum (default: 10)")
    k8s.add_argument("--target-cpu-percent", type=int, default=70,
                     help="average CPU use of the requested cores the autoscaler aims at (default: 70)")
    k8s.add_argument("--memory-mib", type=int, default=None,
                     help="memory request and limit per pod (default: 512 + 3x the size of the model files)")
    k8s.add_argument("--token-secret", default=None, metavar="NAME",
                     help="use this existing Secret (keys token, admin-token) instead of writing secret.yaml")
    k8s.add_argument("--prestop-seconds", type=int, default=5,
                     help="seconds a stopping pod keeps serving before SIGTERM starts the drain (default: 5)")
    k8s.set_defaults(run=_k8s)


def _containerize(args: argparse.Namespace) -> int:
    from pathlib import Path

    from mlship import _ship_image

    served = _served(args)
    if args.keep_build is not None and Path(args.keep_build).exists():
        raise ValueError(f"--keep-build {args.keep_build}: exists; give a folder that does not exist yet")
    try:
        built = _ship_image.build(served, args.tag, python=args.python,
                                  keep=Path(args.keep_build) if args.keep_build else None)
    except RuntimeError as e:
        raise ValueError(str(e)) from None
    print(f"mlship containerize: built {built.summary()}")
    if args.oci:
        print(f"mlship containerize: wrote the OCI layout {_ship_image.save_oci(args.tag, Path(args.oci))}")
    return 0


def _k8s(args: argparse.Namespace) -> int:
    from mlship import _ship_k8s

    served = _served(args)
    opts = _ship_k8s.KubeOptions(
        image=args.image, replicas=args.replicas, min_replicas=args.min_replicas, max_replicas=args.max_replicas,
        target_cpu_percent=args.target_cpu_percent, memory_mib=args.memory_mib, token_secret=args.token_secret,
        prestop_seconds=args.prestop_seconds, kserve=args.kserve)
    files = _ship_k8s.manifests(served, opts)
    source = f"--repository {shlex.quote(args.repository)}" if args.repository else shlex.quote(args.model)
    command = f"mlship k8s {source} --image {args.image}" + (" --kserve" if args.kserve else "")
    for path in _ship_k8s.write(args.output, files, command):
        print(f"mlship k8s: wrote {path}")
    if "secret.yaml" in files:
        print(f"mlship k8s: {args.output}/secret.yaml holds a new random token: keep it out of version control "
              "(or pass --token-secret NAME to use a Secret you manage)")
    print(f"mlship k8s: apply with: kubectl apply -k {args.output}")
    return 0
