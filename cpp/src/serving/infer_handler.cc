// POST .../infer: decode, hand to the Backend, post the answer back.
#include <atomic>
#include <chrono>
#include <exception>
#include <random>
#include <utility>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>

#include "mlship/serving/kserve_codec.h"
#include "audit_log.h"
#include "decode_pool.h"
#include "json_text.h"
#include "pending_answer.h"
#include "request_handler.h"
#include "request_id.h"

namespace mlship::serving::internal {
namespace asio = boost::asio;

namespace {

// Headers of traffic routing: in, the key that keeps a client on one version
// of a split; out, the version that answered.
constexpr std::string_view kRoutingKeyHeader = "mlship-routing-key";
constexpr std::string_view kModelVersionHeader = "mlship-model-version";
// The request's id (the KServe "id", or the one the server made up), on
// every infer response: what a client quotes to find the server's log line.
constexpr std::string_view kRequestIdHeader = "mlship-request-id";
// How much of a hidden error's text the server log gets.
constexpr std::size_t kMaxLoggedErrorBytes = 4096;

}  // namespace

// `response` with the request id header.
HttpResponse WithRequestId(HttpResponse response, std::string_view id) {
  response.set(kRequestIdHeader, HeaderSafeId(id));
  return response;
}

// The answer to an infer request that failed with `status`. Errors about
// the request (400, 404, 503...) say what was wrong. A 500 is the model
// failing (or the server failing to use its answer): its text can hold
// paths, code or data, so unless expose_model_errors it goes to the server
// log, and the client gets the request id that finds it there.
HttpResponse InferErrorResponse(const ServerState& state, const Status& status, const InferResponseHeader& header) {
  if (HttpStatusFor(status.code()) != 500) return WithRequestId(ErrorResponse(status), header.id);
  state.LogError("mlship: request " + LogSafe(header.id, state.options.codec.max_id_bytes) + " to model '" +
                 LogSafe(header.model_name, 128) + "' version '" + LogSafe(header.model_version, 128) + "' failed (" +
                 std::string(StatusCodeName(status.code())) + "): " + LogSafe(status.message(), kMaxLoggedErrorBytes));
  const std::string message =
      state.options.expose_model_errors
          ? BoundedMessage(status.message()) + " (request id " + header.id + ")"
          : "the model failed on this request; request id " + header.id + "; the server log has the details";
  std::string body = EncodeErrorBody(message);
  body.pop_back();  // '}'
  body += ",\"request_id\":";
  AppendJsonString(body, header.id);
  body += '}';
  return WithRequestId(JsonResponse(http::status::internal_server_error, std::move(body)), header.id);
}

namespace {

// The response to an infer request once the Backend has answered. Runs on
// the connection's strand: encoding happens on an I/O thread, never on the
// Backend's worker.
HttpResponse EncodeInferResult(const ServerState& state, StatusOr<InferResponse> result, InferResponseHeader header,
                               const OutputSelection& selection) {
  if (!result.ok()) return InferErrorResponse(state, result.status(), header);
  if (!result->model_version.empty()) header.model_version = result->model_version;
  StatusOr<EncodedBody> encoded = EncodeInferResponse(header, result->outputs, selection, state.options.codec);
  if (!encoded.ok()) return InferErrorResponse(state, encoded.status(), header);
  HttpResponse response = WithRequestId(JsonResponse(http::status::ok, std::move(encoded->body)), header.id);
  // The version that computed it, for clients that read headers only (and
  // for a traffic split's users).
  response.set(kModelVersionHeader, header.model_version);
  if (encoded->json_length.has_value()) {
    response.set(http::field::content_type, "application/octet-stream");
    response.set(kInferenceHeaderContentLength, std::to_string(*encoded->json_length));
  }
  return response;
}

// Decodes an infer request's body against the model's signature.
StatusOr<DecodedInferRequest> DecodeBody(const ServerState& state, const ModelInfo& info, const HttpRequest& request) {
  const std::string_view body = request.body();
  std::optional<std::size_t> json_length;
  if (const auto header = request.find(kInferenceHeaderContentLength); header != request.end()) {
    ASSIGN_OR_RETURN(json_length,
                     ParseInferenceHeaderLength({header->value().data(), header->value().size()}, body.size()));
  }
  return DecodeInferRequest(body, json_length, info.signature, state.options.codec);
}

// The rest of an infer request once its body is decoded: runs on the
// connection's strand.
void StartInfer(ServerState& state, const Route& route, const ModelInfo& info, HttpRequest request,
                StatusOr<DecodedInferRequest> decoded, std::shared_ptr<Responder> responder) {
  if (!decoded.ok()) return responder->Respond(WithRequestId(ErrorResponse(decoded.status()), NewRequestId()));
  request.body().clear();
  request.body().shrink_to_fit();  // the tensors hold their own copy now

  InferRequest infer;
  infer.model_name = info.name;
  // A client that sent no id gets one, so outcomes reported later can join.
  if (decoded->id.empty()) decoded->id = NewRequestId();
  if (const auto key = request.find(kRoutingKeyHeader); key != request.end()) {
    const std::string_view value(key->value().data(), key->value().size());
    if (value.size() > kMaxRoutingKeyBytes) {
      return responder->Respond(WithRequestId(ErrorResponse(400, std::string(kRoutingKeyHeader) + " must be at most " +
                                                                     std::to_string(kMaxRoutingKeyBytes) +
                                                                     " bytes; got " + std::to_string(value.size())),
                                              decoded->id));
    }
    infer.routing_key = std::string(value);
  } else {
    infer.routing_key = std::move(decoded->routing_key);
  }
  // As requested (a version, an alias or empty): the Backend resolves it
  // again as it takes the request, so a swap between the lookup above and
  // now cannot send the request to a version that has just left.
  infer.model_version = route.version;
  infer.id = decoded->id;
  infer.inputs = std::move(decoded->inputs);
  infer.requested_outputs = decoded->outputs.Names();
  if (state.options.request_timeout.count() > 0) {
    infer.deadline = std::chrono::steady_clock::now() + state.options.request_timeout;
  }

  responder->HandedToBackend();
  auto encode = [header = InferResponseHeader{info.name, info.version, std::move(decoded->id)},
                 selection = std::move(decoded->outputs)](const ServerState& s,
                                                          StatusOr<InferResponse> result) mutable {
    return EncodeInferResult(s, std::move(result), std::move(header), selection);
  };
  auto pending = std::make_shared<PendingAnswer<InferResponse, decltype(encode)>>(
      state.shared_from_this(), std::move(responder), std::move(encode), "the model backend dropped the request without answering");
  InferCallback done = [pending](StatusOr<InferResponse> result) { pending->Complete(std::move(result)); };
  try {
    state.backend->Infer(std::move(infer), done);
  } catch (...) {
    // The exception's text may hold internals; the client gets a plain 500.
    done(Status::Internal("the model backend failed to accept the request"));
  }
}

}  // namespace

std::optional<ModelInfo> FindReadyModel(const ServerState& state, const Route& route, Responder& responder) {
  // Answers refused before the body is decoded (so before its "id" is
  // known) carry an id of their own.
  auto refuse = [&responder](HttpResponse response) -> std::optional<ModelInfo> {
    responder.Respond(WithRequestId(std::move(response), NewRequestId()));
    return std::nullopt;
  };
  if (state.draining.load()) return refuse(ErrorResponse(503, "the server is shutting down"));
  StatusOr<ModelInfo> info = state.backend->Find(route.model, route.version);
  if (!info.ok()) return refuse(ErrorResponse(info.status()));
  if (!state.backend->ModelReady(info->name, info->version)) {
    return refuse(ErrorResponse(503, "model '" + info->name + "' version '" + info->version +
                                         "' is not ready; retry later"));
  }
  return std::move(*info);
}

void HandleInfer(ServerState& state, const Route& route, HttpRequest request, std::shared_ptr<Responder> responder) {
  std::optional<ModelInfo> info = FindReadyModel(state, route, *responder);
  if (!info) return;
  if (request.body().size() < kOffloadDecodeBytes) {
    StatusOr<DecodedInferRequest> decoded = DecodeBody(state, *info, request);
    return StartInfer(state, route, *info, std::move(request), std::move(decoded), std::move(responder));
  }
  // A big body is decoded on the decode pool, so this I/O thread goes on
  // answering probes and small requests meanwhile. The job holds the state
  // (whose io_context the strand belongs to) and work on it until its answer
  // is posted back; the posted handler holds only the work, so a handler
  // left in a stopped io_context cannot keep that io_context alive.
  asio::post(DecodePool(), [state = state.shared_from_this(), work = asio::make_work_guard(state.io), route,
                            info = std::move(*info), request = std::move(request),
                            responder = std::move(responder)]() mutable {
    StatusOr<DecodedInferRequest> decoded = DecodeBody(*state, info, request);
    ServerState* raw_state = state.get();
    asio::post(responder->executor(), [raw_state, work = std::move(work), route = std::move(route),
                                       info = std::move(info), request = std::move(request),
                                       decoded = std::move(decoded), responder]() mutable {
      // Running means the io_context runs, so the state is alive.
      StartInfer(*raw_state, route, info, std::move(request), std::move(decoded), std::move(responder));
    });
  });
}

}  // namespace mlship::serving::internal
