-- {"data": [flat floats]} at /predict (FastAPI, Ray Serve, LitServe) or /predictions/NAME
-- (TorchServe). peers_bench.py writes the body (the same one it checked) to $PEERS_BODY.
local f = assert(io.open(os.getenv("PEERS_BODY"), "rb"))
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = f:read("*a")
f:close()
