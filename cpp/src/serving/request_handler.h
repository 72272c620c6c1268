// Turning one HTTP request into its KServe v2 response (internal).
#pragma once

#include <memory>
#include <optional>

#include "http_types.h"
#include "route.h"
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

// POST /v2/models/{name}/outcomes: labels joined to predictions by request
// id (outcomes_handler.cc). Quick: answered on the I/O thread.
HttpResponse HandleOutcomes(const ServerState& state, const Route& route, const HttpRequest& request);

// The repository endpoints: index, load, unload, rollouts (repository_handler.cc).
// The admin token was checked by ScreenRequestHeader.
void HandleRepository(ServerState& state, const Route& route, HttpRequest request,
                      std::shared_ptr<Responder> responder);

}  // namespace mlship::serving::internal
