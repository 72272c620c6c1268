"""mlship's exceptions: one class per kind of error.

The C++ core reports a ``Status`` whose code name selects the class here
(see ``error_class``); the same code also picks the HTTP status the server
answers with. Every class is importable from ``mlship``.
"""

from __future__ import annotations


class MlshipError(Exception):
    """Base class of every error mlship raises on purpose."""


class InvalidInputError(MlshipError, ValueError):
    """Inputs do not match the model's signature (count, dtype, shape, emptiness)."""


class ModelLoadError(MlshipError):
    """A model could not be loaded; the message names the source and the cause."""


class InferenceError(MlshipError):
    """The model's forward raised while running valid inputs."""


class NotFoundError(MlshipError, LookupError):
    """No such model, version or file."""


class OverloadedError(MlshipError):
    """The server's queue is full or it is draining; retry later."""


class DeadlineExceededError(MlshipError, TimeoutError):
    """A request's deadline passed before it could run."""


class UnauthenticatedError(MlshipError):
    """A missing or wrong token."""


class FailedPreconditionError(MlshipError):
    """The system is not in a state that allows this operation."""


class UnsupportedMethodError(FailedPreconditionError, NotImplementedError):
    """An explanation method the model cannot support (e.g. gradients of a ``.pt2`` package);
    the message names the method, why, and the methods the model supports. Over HTTP: 501."""


class ResourceExhaustedError(MlshipError):
    """A size limit was exceeded."""


class InternalError(MlshipError):
    """A bug in mlship; please report it with the message."""


_BY_CODE: dict[str, type[MlshipError]] = {
    "invalid_argument": InvalidInputError,
    "not_found": NotFoundError,
    "unavailable": OverloadedError,
    "deadline_exceeded": DeadlineExceededError,
    "unauthenticated": UnauthenticatedError,
    "failed_precondition": FailedPreconditionError,
    "internal": InternalError,
    "model_load_failed": ModelLoadError,
    "inference_failed": InferenceError,
    "resource_exhausted": ResourceExhaustedError,
}

for _cls in (MlshipError, UnsupportedMethodError, *_BY_CODE.values()):
    _cls.__module__ = "mlship"


def error_class(code_name: str) -> type[MlshipError]:
    """The exception class for a C++ status code name (used by the native module)."""
    return _BY_CODE.get(code_name, InternalError)
