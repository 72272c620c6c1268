"""mlship: put a PyTorch model into production.

Load TorchScript files, ``.pt2`` packages or ``torch.nn.Module``s into a C++
engine that runs them without the GIL::

    import mlship
    model = mlship.load(net, example_inputs=x[:1])
    y = model(x)

Anything not exported here is private.
"""

from mlship._core import __version__
from mlship._errors import (
    DeadlineExceededError,
    FailedPreconditionError,
    InferenceError,
    InternalError,
    InvalidInputError,
    MlshipError,
    ModelLoadError,
    NotFoundError,
    OverloadedError,
    ResourceExhaustedError,
    UnauthenticatedError,
    UnsupportedMethodError,
)
from mlship._compare_models import ComparisonReport, compare
from mlship._deploy import Deployment, deploy
from mlship._endpoint import ModelEndpoint
from mlship._eval_report import EvaluationReport
from mlship._evaluate import evaluate
from mlship._explain import Explanation, explain
from mlship._export import compile_pt2, export_pt2
from mlship._limits import Limits
from mlship._load import load
from mlship._model import Model
from mlship._monitor import SLO, DriftOptions
from mlship._optimize import optimize
from mlship._passes import fold, low_rank, prune, quantize
from mlship._report import Candidate, OptimizationReport
from mlship._repository import Repository
from mlship._rollout import Guard, Rollout
from mlship._server import Server, serve
from mlship._tune import TuneResult, TuneRow, tune
from mlship._signature import SequenceBatching, Signature, TensorSpec

__all__ = [
    "__version__",
    "load",
    "deploy",
    "Deployment",
    "serve",
    "Server",
    "tune",
    "TuneResult",
    "TuneRow",
    "ModelEndpoint",
    "Repository",
    "Guard",
    "Rollout",
    "Limits",
    "SLO",
    "DriftOptions",
    "compile_pt2",
    "export_pt2",
    "optimize",
    "quantize",
    "prune",
    "low_rank",
    "fold",
    "OptimizationReport",
    "Candidate",
    "evaluate",
    "explain",
    "Explanation",
    "compare",
    "EvaluationReport",
    "ComparisonReport",
    "Model",
    "SequenceBatching",
    "Signature",
    "TensorSpec",
    "MlshipError",
    "InvalidInputError",
    "ModelLoadError",
    "InferenceError",
    "NotFoundError",
    "OverloadedError",
    "DeadlineExceededError",
    "UnauthenticatedError",
    "FailedPreconditionError",
    "ResourceExhaustedError",
    "UnsupportedMethodError",
    "InternalError",
]
