// Turning one HTTP request into its KServe v2 response (internal).
#pragma once

#include <memory>
#include <optional>

#include "http_types.h"
#include "mlship/serving/kserve_codec.h"
#include "route.h"
#include "request_id.h"
#include "server_state.h"

namespace mlship::serving::internal {

// Looks at a request's header before its body is read. Returns the response
// that ends the request early (401 when a token is required and missing or
// wrong), or nullopt to go on and read the body.
std::optional<HttpResponse> ScreenRequestHeader(const ServerState& state, const http::request_header<>& header);

// Answers a complete request through `responder`: at once for metadata,
// health and extra routes, later (from the Backend's callback) for
// inference. Runs on the connection's strand. Never throws for bad input.
void HandleRequest(ServerState& state, HttpRequest request, std::shared_ptr<Responder> responder);

// Decodes an infer request and hands it to the Backend (infer_handler.cc).
void HandleInfer(ServerState& state, const Route& route, HttpRequest request, std::shared_ptr<Responder> responder);

// POST .../explain: decodes on the decode pool, checks the method (400
// unknown, 501 unsupported), hands it to Backend::Explain (explain_handler.cc).
void HandleExplain(ServerState& state, const Route& route, HttpRequest request, std::shared_ptr<Responder> responder);
// The explanation parameters of an explain request's JSON (its "parameters"
// object); InvalidArgument naming a parameter of the wrong type.
StatusOr<ExplainParameters> ParseExplainParameters(std::string_view json_text, std::size_t max_depth);

// Shared by the infer and explain handlers (infer_handler.cc): `response`
// with the id header (ids: request_id.h); the answer to a failed request
// (500s hide the model's text unless expose_model_errors); and the model a
// request names when it may run now, else nullopt after refusing it (503
// while draining or not ready, 404 unknown) with a fresh request id.
HttpResponse WithRequestId(HttpResponse response, std::string_view id);
HttpResponse InferErrorResponse(const ServerState& state, const Status& status, const InferResponseHeader& header);
std::optional<ModelInfo> FindReadyModel(const ServerState& state, const Route& route, Responder& responder);

// POST /v2/models/{name}/outcomes: labels joined to predictions by request
// id (outcomes_handler.cc). Quick: answered on the I/O thread.
HttpResponse HandleOutcomes(const ServerState& state, const Route& route, const HttpRequest& request);

// The repository endpoints: index, load, unload, rollouts (repository_handler.cc).
// The admin token was checked by ScreenRequestHeader.
void HandleRepository(ServerState& state, const Route& route, HttpRequest request,
                      std::shared_ptr<Responder> responder);

}  // namespace mlship::serving::internal
