"""Flask baseline: `gunicorn -w 2 flask_app:app`."""

from common import infer
from flask import Flask, jsonify, request

app = Flask(__name__)


@app.post("/v2/models/digits/infer")
def predict():
    return jsonify(infer(request.get_json()))
