"""TorchServe handler: TorchServe batches (batchSize/maxBatchDelay in config.properties) and
hands the handler a list of requests; each body is {"data": [flat floats]}."""

import json
import os

import torch

_model = None
_row_shape = None
_dtype = torch.float32


def _initialize(context) -> None:
    global _model, _row_shape, _dtype
    model_dir = context.system_properties["model_dir"]
    with open(os.path.join(model_dir, "peer.json")) as f:
        conf = json.load(f)
    torch.set_num_threads(conf["threads"])
    _row_shape = tuple(conf["row_shape"])
    _dtype = getattr(torch, conf.get("dtype", "float32"))
    _model = torch.jit.load(os.path.join(model_dir, context.manifest["model"]["serializedFile"])).eval()


def handle(data, context):
    if _model is None:
        _initialize(context)
    if data is None:
        return None
    xs = []
    for req in data:
        body = req.get("body") if req.get("body") is not None else req.get("data")
        if isinstance(body, (bytes, bytearray)):
            body = json.loads(body)
        xs.append(torch.tensor(body["data"], dtype=_dtype).reshape(-1, *_row_shape))
    with torch.inference_mode():
        y = _model(torch.cat(xs))
    out, start = [], 0
    for x in xs:
        out.append({"output": y[start:start + len(x)].flatten().tolist()})
        start += len(x)
    return out
