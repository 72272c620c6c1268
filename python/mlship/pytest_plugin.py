"""mlship's pytest plugin, registered through the ``pytest11`` entry point when mlship is installed.

Fixtures
--------
mlship_deploy
    ``dep = mlship_deploy(model, **deploy_kwargs)`` deploys on a free loopback port (``port=0``),
    untuned unless ``tune=`` is given (a test wants the same settings every run, not a
    measurement's), and stops every deployment it made when the test ends, failed or not.
mlship_golden
    ``mlship_golden.check(outputs, name=None, model=None, rtol=None, atol=None)`` compares
    outputs with the golden file beside the test (``golden/<module>/<test>[.<name>].npz``);
    the tolerance depends on each output's dtype and on what changed since the file was
    written (see mlship._golden).

Option
------
``--mlship-update-golden`` writes missing golden files and rewrites those that differ (or were
written with other software, CPU features or model), and lists each in the summary.

mlship is imported only when a fixture is used, so the plugin costs other test suites nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

_WRITTEN = pytest.StashKey[list]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("mlship", "mlship model regression checks")
    group.addoption("--mlship-update-golden", action="store_true", default=False,
                    help="write missing mlship golden output files and rewrite those that differ")


def pytest_configure(config: pytest.Config) -> None:
    config.stash[_WRITTEN] = []


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    written = config.stash.get(_WRITTEN, [])
    if not written:
        return
    terminalreporter.section("mlship golden files written")
    for path, why in written:
        terminalreporter.line(f"{path}: {why}")


class GoldenChecker:
    """The ``mlship_golden`` fixture's object: one per test."""

    def __init__(self, test_path: Path, test_name: str, update: bool, written: list) -> None:
        self._test_path = test_path
        self._test_name = test_name
        self._update = update
        self._written = written

    def path(self, name: str | None = None) -> Path:
        """Where the golden file for ``name`` lives."""
        from mlship._golden import golden_path

        return golden_path(self._test_path, self._test_name, name)

    def check(self, outputs: Any, *, name: str | None = None, model: Any = None, rtol: float | None = None,
              atol: float | None = None) -> None:
        """Asserts that ``outputs`` (an array, a tensor, or a tuple, list or dict of them) match the
        golden file; ``model`` (optional) is hashed so a failure says whether the model changed.

        ``rtol``/``atol`` override the tolerance chosen from the dtype and what changed.
        """
        from mlship import _golden

        path = self.path(name)
        if not path.exists():
            if self._update:
                _golden.golden_from(outputs, model).write(path)
                self._written.append((path, "new"))
                return
            pytest.fail(f"no golden outputs at {path}; run pytest --mlship-update-golden to write them, "
                        "then commit the file", pytrace=False)
        result, fresh = _golden.check(path, outputs, model=model, rtol=rtol, atol=atol)
        if self._update and (not result.ok or result.changed):
            fresh.write(path)
            why = "outputs differed" if not result.ok else "recorded environment changed"
            self._written.append((path, why + (f" ({'; '.join(result.changed)})" if result.changed else "")))
            return
        if not result.ok:
            pytest.fail(result.message, pytrace=False)


@pytest.fixture
def mlship_golden(request: pytest.FixtureRequest) -> GoldenChecker:
    """Golden-output checks for this test (see :class:`GoldenChecker`)."""
    return GoldenChecker(Path(str(request.path)), request.node.name,
                         bool(request.config.getoption("mlship_update_golden")), request.config.stash[_WRITTEN])


@pytest.fixture
def mlship_deploy() -> Iterator[Callable[..., Any]]:
    """A factory: ``mlship_deploy(model, **kwargs)`` returns a started ``mlship.Deployment``
    (loopback, free port unless given) that is stopped after the test, even when it fails."""
    import mlship

    started: list[Any] = []

    def deploy(model: Any, **kwargs: Any) -> Any:
        kwargs.setdefault("port", 0)
        kwargs.setdefault("tune", False)
        dep = mlship.deploy(model, **kwargs)
        started.append(dep)
        return dep

    try:
        yield deploy
    finally:
        for dep in reversed(started):
            dep.stop(drain=False, timeout=30)
