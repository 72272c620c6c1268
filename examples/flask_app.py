"""A Flask app that serves a model with mlship, in the app's own process.

``create_app()`` deploys the model with no HTTP server of its own (``http=False``); each
request calls ``dep.predict(x)``, which releases the GIL while mlship's native batcher runs it,
so the threads of a threaded server share forward passes. The deployment stops when the
process exits.

    MLSHIP_MODEL=digits.pt flask --app flask_app run                 # development server
    MLSHIP_MODEL=digits.pt gunicorn -w 2 --threads 8 'flask_app:create_app()'

With several worker processes each worker deploys its own copy. Do not use gunicorn's
--preload: native threads started before the fork do not exist in the workers.
"""

from __future__ import annotations

import atexit
import os
from typing import Any

import numpy as np
from flask import Flask, jsonify, request

import mlship


def create_app(model_path: str | None = None) -> Flask:
    """The app, with its own deployment of ``model_path`` (default: the MLSHIP_MODEL variable)."""
    deployment = mlship.deploy(model_path or os.environ.get("MLSHIP_MODEL", "model.pt"), http=False)
    atexit.register(deployment.stop)
    app = Flask(__name__)
    app.extensions["mlship"] = deployment

    @app.post("/predict")
    def predict() -> Any:
        body = request.get_json(silent=True)
        if not isinstance(body, dict) or "inputs" not in body:
            return jsonify(error='expected a JSON object {"inputs": [[feature, ...], ...]}'), 400
        try:
            x = np.asarray(body["inputs"], dtype=np.float32)
            scores = deployment.predict(x)
        except (ValueError, TypeError) as e:  # not numbers, ragged rows, or the model's InvalidInputError
            return jsonify(error=str(e)), 400
        except mlship.OverloadedError as e:  # queue full or shutting down: retry later
            return jsonify(error=str(e)), 503
        return jsonify(scores=scores.tolist(), classes=scores.argmax(axis=1).tolist())

    @app.get("/healthz")
    def healthz() -> Any:
        return jsonify(status="ok")

    return app
