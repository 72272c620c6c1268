// POST .../infer: decode, hand to the Backend, post the answer back.
#include <atomic>
#include <chrono>
#include <exception>
#include <random>
#include <utility>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>

#include "mlship/serving/kserve_codec.h"
#include "decode_pool.h"
#include "request_handler.h"

namespace mlship::serving::internal {
namespace asio = boost::asio;

namespace {

// Headers of traffic routing: in, the key that keeps a client on one version
// of a split; out, the version that answered.
constexpr std::string_view kRoutingKeyHeader = "mlship-routing-key";
constexpr std::string_view kModelVersionHeader = "mlship-model-version";

// 16 random hex digits, from a per-thread generator: unique enough to join
// outcomes, never a secret.
std::string NewRequestId() {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  static const char* kHex = "0123456789abcdef";
  uint64_t bits = rng();
  std::string id(16, '0');
  for (char& c : id) {
    c = kHex[bits & 15];
    bits >>= 4;
  }
  return id;
}

// The response to an infer request once the Backend has answered. Runs on
// the connection's strand: encoding happens on an I/O thread, never on the
// Backend's worker.
HttpResponse EncodeInferResult(StatusOr<InferResponse> result, InferResponseHeader header,
                               const OutputSelection& selection, const CodecLimits& limits) {
  if (!result.ok()) return ErrorResponse(result.status());
  if (!result->model_version.empty()) header.model_version = result->model_version;
  StatusOr<EncodedBody> encoded = EncodeInferResponse(header, result->outputs, selection, limits);
  if (!encoded.ok()) return ErrorResponse(encoded.status());
  HttpResponse response = JsonResponse(http::status::ok, std::move(encoded->body));
  // The version that computed it, for clients that read headers only (and
  // for a traffic split's users).
  response.set(kModelVersionHeader, header.model_version);
  if (encoded->json_length.has_value()) {
    response.set(http::field::content_type, "application/octet-stream");
    response.set(kInferenceHeaderContentLength, std::to_string(*encoded->json_length));
  }
  return response;
}

// One request in the Backend's hands. Keeps the server state (and so the
// io_context) and the connection alive until the Backend answers, and holds
// work on the io_context so the I/O threads do not finish meanwhile.
//
// Member order matters: the connection is released before the work guard
// and the state it runs on.
class PendingInfer {
 public:
  PendingInfer(std::shared_ptr<ServerState> state, std::shared_ptr<Responder> responder, InferResponseHeader header,
               OutputSelection selection)
      : state_(std::move(state)),
        work_(asio::make_work_guard(state_->io)),
        responder_(std::move(responder)),
        header_(std::move(header)),
        selection_(std::move(selection)) {}

  // A Backend that drops its callback without calling it still gets the
  // client an answer.
  ~PendingInfer() {
    if (!completed_.exchange(true)) {
      Post(Status::Internal("the model backend dropped the request without answering"));
    }
  }

  // Called by the Backend from any thread; the first call wins.
  void Complete(StatusOr<InferResponse> result) {
    if (completed_.exchange(true)) return;
    Post(std::move(result));
  }

 private:
  // Posts the encoding and the response onto the connection's strand. The
  // posted handler holds the connection but not the state, so a handler left
  // in a stopped io_context cannot keep that io_context alive forever.
  void Post(StatusOr<InferResponse> result) {
    asio::post(responder_->executor(), [responder = responder_, header = header_, selection = selection_,
                                        limits = state_->options.codec, result = std::move(result)]() mutable {
      responder->Respond(EncodeInferResult(std::move(result), std::move(header), selection, limits));
    });
  }

  // Keeps the io_context alive until this request is answered.
  std::shared_ptr<ServerState> state_;
  // Keeps the I/O threads running until this request is answered.
  asio::executor_work_guard<asio::io_context::executor_type> work_;
  // The connection waiting for the answer.
  std::shared_ptr<Responder> responder_;
  // model_name, model_version and id for the response.
  InferResponseHeader header_;
  // Which outputs to send, and how.
  OutputSelection selection_;
  // Set by the first Complete() (or the destructor).
  std::atomic<bool> completed_{false};
};

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
  if (!decoded.ok()) return responder->Respond(ErrorResponse(decoded.status()));
  request.body().clear();
  request.body().shrink_to_fit();  // the tensors hold their own copy now

  InferRequest infer;
  infer.model_name = info.name;
  // A client that sent no id gets one, so outcomes reported later can join.
  if (decoded->id.empty()) decoded->id = NewRequestId();
  if (const auto key = request.find(kRoutingKeyHeader); key != request.end()) {
    const std::string_view value(key->value().data(), key->value().size());
    if (value.size() > kMaxRoutingKeyBytes) {
      return responder->Respond(ErrorResponse(400, std::string(kRoutingKeyHeader) + " must be at most " +
                                                       std::to_string(kMaxRoutingKeyBytes) + " bytes; got " +
                                                       std::to_string(value.size())));
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
  auto pending = std::make_shared<PendingInfer>(
      state.shared_from_this(), std::move(responder),
      InferResponseHeader{info.name, info.version, std::move(decoded->id)}, std::move(decoded->outputs));
  InferCallback done = [pending](StatusOr<InferResponse> result) { pending->Complete(std::move(result)); };
  try {
    state.backend->Infer(std::move(infer), done);
  } catch (...) {
    // The exception's text may hold internals; the client gets a plain 500.
    done(Status::Internal("the model backend failed to accept the request"));
  }
}

}  // namespace

void HandleInfer(ServerState& state, const Route& route, HttpRequest request, std::shared_ptr<Responder> responder) {
  if (state.draining.load()) return responder->Respond(ErrorResponse(503, "the server is shutting down"));
  StatusOr<ModelInfo> info = state.backend->Find(route.model, route.version);
  if (!info.ok()) return responder->Respond(ErrorResponse(info.status()));
  if (!state.backend->ModelReady(info->name, info->version)) {
    return responder->Respond(
        ErrorResponse(503, "model '" + info->name + "' version '" + info->version + "' is not ready; retry later"));
  }
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
