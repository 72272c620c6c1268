// POST /v2/models/{name}[/versions/{v}]/explain: a KServe v2 infer request
// plus explanation parameters; the answer holds the model's outputs and one
// "<input>_attribution" tensor per input (JSON or binary, as for infer).
//
//   {"inputs": [...], "parameters": {"method": "integrated_gradients", "target": 3, "steps": 32}}
//
// Parameters: method (default "integrated_gradients"), target (an index, a
// list of one per row, or "predicted"), steps, samples, window, seed, and
// baseline (a number every element of the baseline takes; default 0).
// Unknown method -> 400; a method the model cannot support -> 501.
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>
#include <boost/json.hpp>

#include <atomic>
#include <limits>

#include "decode_pool.h"
#include "pending_answer.h"
#include "mlship/serving/kserve_codec.h"
#include "precise_json.h"
#include "request_handler.h"

namespace mlship::serving::internal {
namespace asio = boost::asio;
namespace json = boost::json;

namespace {

constexpr std::string_view kEvaluationsHeader = "mlship-explain-evaluations";

std::optional<int64_t> IntegerOf(const json::value& v) {
  if (v.is_int64()) return v.get_int64();
  if (v.is_uint64() && v.get_uint64() <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
    return static_cast<int64_t>(v.get_uint64());
  }
  return std::nullopt;
}

Status IntParameter(const json::object& p, std::string_view key, int64_t lo, int64_t hi, int64_t* out) {
  const json::value* v = p.if_contains(key);
  if (v == nullptr) return Status::Ok();
  std::optional<int64_t> n = IntegerOf(*v);
  if (!n || *n < lo || *n > hi) {
    return Status::InvalidArgument("parameters." + std::string(key) + " must be an integer in [" +
                                   std::to_string(lo) + ", " + std::to_string(hi) + "]; got " + json::serialize(*v));
  }
  *out = *n;
  return Status::Ok();
}

}  // namespace

StatusOr<ExplainParameters> ParseExplainParameters(std::string_view json_text, std::size_t max_depth) {
  DataDiversion diversion;  // the tensors' data stays out of the tree
  json::monotonic_resource storage;
  ASSIGN_OR_RETURN(json::value doc, ParseJsonPrecisely(json_text, max_depth, &storage, &diversion));
  ExplainParameters out;
  const json::object* root = doc.if_object();
  const json::value* params = root ? root->if_contains("parameters") : nullptr;
  if (params == nullptr) return out;
  if (!params->is_object()) return Status::InvalidArgument("\"parameters\" must be an object");
  const json::object& p = params->get_object();
  if (const json::value* m = p.if_contains("method")) {
    if (!m->is_string()) return Status::InvalidArgument("parameters.method must be a string; got " + json::serialize(*m));
    out.method = std::string(m->get_string());
  }
  if (const json::value* t = p.if_contains("target")) {
    if (t->is_string() && t->get_string() == "predicted") {
      // the default
    } else if (std::optional<int64_t> n = IntegerOf(*t)) {
      out.targets.push_back(*n);
    } else if (t->is_array() && t->get_array().size() <= (std::size_t{1} << 20)) {
      for (const json::value& x : t->get_array()) {
        std::optional<int64_t> n = IntegerOf(x);
        if (!n) return Status::InvalidArgument("parameters.target must hold integers; got " + json::serialize(x));
        out.targets.push_back(*n);
      }
    } else {
      return Status::InvalidArgument(
          "parameters.target must be an index, a list of one index per row, or \"predicted\"; got " +
          json::serialize(*t).substr(0, 80));
    }
  }
  int64_t steps = out.steps, samples = out.samples, window = out.window, seed = 0;
  // Wide ranges here: the engine checks the real limits and says them.
  constexpr int64_t kInt = std::numeric_limits<int>::max();
  RETURN_IF_ERROR(IntParameter(p, "steps", std::numeric_limits<int>::min(), kInt, &steps));
  RETURN_IF_ERROR(IntParameter(p, "samples", std::numeric_limits<int>::min(), kInt, &samples));
  RETURN_IF_ERROR(IntParameter(p, "window", std::numeric_limits<int>::min(), kInt, &window));
  RETURN_IF_ERROR(IntParameter(p, "seed", 0, std::numeric_limits<int64_t>::max(), &seed));
  out.steps = static_cast<int>(steps);
  out.samples = static_cast<int>(samples);
  out.window = static_cast<int>(window);
  out.seed = static_cast<uint64_t>(seed);
  if (const json::value* b = p.if_contains("baseline")) {
    if (b->is_double()) {
      out.baseline_value = b->get_double();
    } else if (std::optional<int64_t> n = IntegerOf(*b)) {
      out.baseline_value = static_cast<double>(*n);
    } else {
      return Status::InvalidArgument("parameters.baseline must be a number (every baseline element takes it); got " +
                                     json::serialize(*b).substr(0, 80) +
                                     "; tensors as baselines go through the Python API (Deployment.explain)");
    }
  }
  return out;
}

namespace {

std::string MethodNames(const std::vector<ExplainMethodInfo>& methods, bool supported_only) {
  std::string names;
  for (const auto& m : methods) {
    if (supported_only && !m.supported) continue;
    names += (names.empty() ? "" : ", ") + m.name;
  }
  return names;
}

// 400 for an unknown method, 501 for one this version cannot support.
std::optional<HttpResponse> CheckMethod(const ModelInfo& info, const std::string& method) {
  // Not known before a version's first load: the Backend answers for it.
  if (info.explain_methods.empty()) return std::nullopt;
  for (const auto& m : info.explain_methods) {
    if (m.name != method) continue;
    if (m.supported) return std::nullopt;
    return ErrorResponse(501, "method '" + method + "' is not supported by model '" + info.name + "' version '" +
                                  info.version + "': " + m.reason + "; it supports " +
                                  MethodNames(info.explain_methods, true));
  }
  return ErrorResponse(400, "unknown explanation method '" + method.substr(0, 64) + "'; expected one of " +
                                MethodNames(info.explain_methods, false));
}

HttpResponse EncodeExplainResult(const ServerState& state, StatusOr<ExplainResponse> result,
                                 InferResponseHeader header, bool binary) {
  if (!result.ok()) return InferErrorResponse(state, result.status(), header);
  if (!result->model_version.empty()) header.model_version = result->model_version;
  OutputSelection all;  // every tensor, in order
  all.binary_data_output = binary;
  StatusOr<EncodedBody> encoded = EncodeInferResponse(header, result->tensors, all, state.options.codec);
  if (!encoded.ok()) return InferErrorResponse(state, encoded.status(), header);
  HttpResponse response = WithRequestId(JsonResponse(http::status::ok, std::move(encoded->body)), header.id);
  response.set(kEvaluationsHeader, std::to_string(result->evaluations));
  response.set("mlship-model-version", header.model_version);
  if (encoded->json_length.has_value()) {
    response.set(http::field::content_type, "application/octet-stream");
    response.set(kInferenceHeaderContentLength, std::to_string(*encoded->json_length));
  }
  return response;
}

// What the decode pool makes of an explain request: a refusal, or the
// request for the Backend.
struct PreparedExplain {
  std::optional<HttpResponse> refusal;
  ExplainRequest explain;
  InferResponseHeader header;
  bool binary = false;
};

// Decodes and checks the body. Runs on the decode pool (explanations are
// never on the I/O threads' hot path).
PreparedExplain PrepareExplain(const ServerState& state, const Route& route, const ModelInfo& info,
                               const HttpRequest& request) {
  PreparedExplain out;
  const std::string_view body = request.body();
  std::optional<std::size_t> json_length;
  if (const auto header = request.find(kInferenceHeaderContentLength); header != request.end()) {
    auto parsed = ParseInferenceHeaderLength({header->value().data(), header->value().size()}, body.size());
    if (!parsed.ok()) {
      out.refusal = WithRequestId(ErrorResponse(parsed.status()), NewRequestId());
      return out;
    }
    json_length = *parsed;
  }
  StatusOr<DecodedInferRequest> decoded = DecodeInferRequest(body, json_length, info.signature, state.options.codec);
  if (!decoded.ok()) {
    out.refusal = WithRequestId(ErrorResponse(decoded.status()), NewRequestId());
    return out;
  }
  if (decoded->id.empty()) decoded->id = NewRequestId();
  StatusOr<ExplainParameters> params =
      ParseExplainParameters(body.substr(0, json_length.value_or(body.size())), state.options.codec.max_json_depth);
  if (!params.ok()) {
    out.refusal = WithRequestId(ErrorResponse(params.status()), decoded->id);
    return out;
  }
  if (auto refusal = CheckMethod(info, params->method)) {
    out.refusal = WithRequestId(std::move(*refusal), decoded->id);
    return out;
  }
  out.explain.request.model_name = info.name;
  out.explain.request.model_version = route.version;
  out.explain.request.id = decoded->id;
  out.explain.request.routing_key = std::move(decoded->routing_key);
  out.explain.request.inputs = std::move(decoded->inputs);
  if (state.options.request_timeout.count() > 0) {
    out.explain.request.deadline = std::chrono::steady_clock::now() + state.options.request_timeout;
  }
  out.explain.parameters = std::move(*params);
  out.binary = decoded->outputs.binary_data_output;
  out.header = InferResponseHeader{info.name, info.version, std::move(decoded->id)};
  return out;
}

// Hands a prepared explanation to the Backend. Runs on the connection's strand.
void StartExplain(ServerState& state, PreparedExplain prepared, std::shared_ptr<Responder> responder) {
  if (prepared.refusal) return responder->Respond(std::move(*prepared.refusal));
  responder->HandedToBackend();
  auto encode = [header = std::move(prepared.header), binary = prepared.binary](const ServerState& s,
                                                                  StatusOr<ExplainResponse> result) mutable {
    return EncodeExplainResult(s, std::move(result), std::move(header), binary);
  };
  auto pending = std::make_shared<PendingAnswer<ExplainResponse, decltype(encode)>>(
      state.shared_from_this(), std::move(responder), std::move(encode), "the model backend dropped the explanation");
  ExplainCallback done = [pending](StatusOr<ExplainResponse> result) { pending->Complete(std::move(result)); };
  try {
    state.backend->Explain(std::move(prepared.explain), done);
  } catch (...) {
    done(Status::Internal("the model backend failed to accept the explanation"));
  }
}

}  // namespace

void HandleExplain(ServerState& state, const Route& route, HttpRequest request, std::shared_ptr<Responder> responder) {
  std::optional<ModelInfo> info = FindReadyModel(state, route, *responder);
  if (!info) return;
  // Decoded on the decode pool, so this I/O thread goes on answering
  // inference; the job holds the state and work on its io_context until its
  // answer is posted back (as HandleInfer does for big bodies).
  asio::post(DecodePool(), [state = state.shared_from_this(), work = asio::make_work_guard(state.io), route,
                            info = std::move(*info), request = std::move(request),
                            responder = std::move(responder)]() mutable {
    PreparedExplain prepared = PrepareExplain(*state, route, info, request);
    ServerState* raw_state = state.get();
    asio::post(responder->executor(), [raw_state, work = std::move(work), prepared = std::move(prepared),
                                       responder]() mutable {
      StartExplain(*raw_state, std::move(prepared), std::move(responder));
    });
  });
}

}  // namespace mlship::serving::internal
