-- BentoML: {"x": nested list [1, *row]} at /predict (the API's parameter name is the key).
-- peers_bench.py writes the body (the same one it checked) to $PEERS_BODY.
local f = assert(io.open(os.getenv("PEERS_BODY"), "rb"))
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = f:read("*a")
f:close()
