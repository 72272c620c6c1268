"""The options schema in the core is the one source of every setting: deploy(), serve(), both
command lines, manifests and the docs all read it."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import mlship
from mlship import _options

DOCS = Path(__file__).resolve().parents[2] / "docs" / "serving.md"


def test_the_docs_table_is_the_schema():
    assert _options.markdown_table() in DOCS.read_text(), (
        "docs/serving.md's settings table is out of date: paste "
        "`python -c 'from mlship._options import markdown_table; print(markdown_table())'`")


def test_the_python_option_groups_take_their_defaults_from_the_schema():
    assert mlship.Limits().max_body_bytes == _options.default("max_body_bytes") == 64 << 20
    assert mlship.DriftOptions().window == _options.default("drift_window")
    assert mlship.SLO(p99_ms=5).window_s == _options.default("slo_window_s")
    with pytest.raises(mlship.InvalidInputError, match="max_connections must be >= 1; was 0"):
        mlship.Limits(max_connections=0)
    with pytest.raises(ValueError, match="drift_check_interval_s must be in"):
        mlship.DriftOptions(check_interval_s=0)


def test_unknown_and_misplaced_settings_are_errors_naming_the_key():
    model = mlship.load(torch.nn.Linear(4, 2), example_inputs=torch.zeros(1, 4))
    with mlship.serve(http=False) as server:
        with pytest.raises(mlship.InvalidInputError, match="did you mean 'max_queue_size'"):
            server.deploy(model, name="m", max_queue=10)
        with pytest.raises(mlship.InvalidInputError, match="applies to the whole server"):
            server.deploy(model, name="m", port=1)
        with pytest.raises(mlship.InvalidInputError, match="max_batch_size must be in 1..1048576; was 0"):
            server.deploy(model, name="m", max_batch_size=0)
    with pytest.raises(mlship.InvalidInputError, match="unknown option 'max_loaded'"):
        mlship.serve(http=False, max_loaded=3)
