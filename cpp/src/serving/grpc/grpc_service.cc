// The GRPCInferenceService handlers: auth, the same checks and error codes
// as the REST routes, and ModelInfer handed to Backend::Infer.
#include "grpc_service.h"

#include <chrono>
#include <iostream>
#include <optional>
#include <random>
#include <string>
#include <utility>

#include "audit_log.h"
#include "grpc_codec.h"
#include "mlship/serving/kserve_codec.h"
#include "mlship/status_grpc.h"
#include "request_id.h"
#include "triton_extensions.h"

namespace mlship::serving::internal {

namespace {

using Context = InferenceService::Context;
using Reactor = InferenceService::Reactor;

// Longest error message sent (a name in a request is never echoed whole).
constexpr std::size_t kMaxMessageBytes = 1024;
// How much of a hidden error's text the server log gets.
constexpr std::size_t kMaxLoggedErrorBytes = 4096;
// Longest routing key accepted, as over HTTP.
constexpr std::size_t kMaxRoutingKeyBytes = 256;
// Metadata: in, the routing key; out, the request id and the version that
// answered (the HTTP front end's header names).
constexpr const char* kRoutingKeyMetadata = "mlship-routing-key";
constexpr const char* kRequestIdMetadata = "mlship-request-id";
constexpr const char* kModelVersionMetadata = "mlship-model-version";

std::string Bounded(std::string_view text, std::size_t max = kMaxMessageBytes) {
  if (text.size() <= max) return std::string(text);
  return std::string(text.substr(0, max - 3)) + "...";
}

// `text` as a metadata value: bounded, with bytes gRPC refuses in ASCII
// metadata as %XX (a client's id must not break the answer).
std::string MetadataSafe(std::string_view text) { return HeaderSafeId(Bounded(text)); }

grpc::Status ToGrpc(const Status& status) {
  return grpc::Status(static_cast<grpc::StatusCode>(GrpcCodeFor(status.code())), Bounded(status.message()));
}

Reactor* Answer(Context* ctx, grpc::Status status) {
  Reactor* reactor = ctx->DefaultReactor();
  reactor->Finish(std::move(status));
  return reactor;
}

Reactor* Answer(Context* ctx, const Status& status) { return Answer(ctx, ToGrpc(status)); }

std::string_view MetadataValue(const Context* ctx, const char* key) {
  const auto& metadata = ctx->client_metadata();
  const auto it = metadata.find(key);
  if (it == metadata.end()) return {};
  return {it->second.data(), it->second.size()};
}

// Tells the Backend about a call refused before Infer, for its counters.
void ReportRefusal(const GrpcState& state, std::string_view model, int http_status) {
  RefusedRequest refused;
  refused.model = model;
  refused.reason = RefusalReasonFor(http_status);
  refused.http_status = http_status;
  try {
    state.backend->RequestRefused(refused);
  } catch (...) {
    // Counting must never cost the client its answer.
  }
}

// The audit log's name of a method: what HTTP's lines hold as the path.
std::string MethodPath(std::string_view method) { return "/inference.GRPCInferenceService/" + std::string(method); }

// "127.0.0.1:5000" from gRPC's "ipv4:127.0.0.1:5000" ("[::1]:5000" from
// "ipv6:[::1]:5000"), as HTTP's audit lines write the client.
std::string PeerAddress(const Context* ctx) {
  std::string peer = ctx->peer();
  for (const char* scheme : {"ipv4:", "ipv6:"}) {
    if (peer.rfind(scheme, 0) == 0) return peer.substr(std::string_view(scheme).size());
  }
  return peer;
}

// The audit event of a gRPC call, without its outcome; null when the audit
// log is off. The method is "gRPC", the path the service method's.
std::optional<AuditEvent> AuditEventFor(const GrpcState& state, const Context* ctx, std::string_view action,
                                        std::string_view method) {
  if (!state.shared.audit) return std::nullopt;
  AuditEvent event;
  event.remote = PeerAddress(ctx);
  event.who = state.tokens.CallerName(MetadataValue(ctx, "authorization"));
  event.action = std::string(action);
  event.method = "gRPC";
  event.path = MethodPath(method);
  return event;
}

// Records `event` with its outcome: `http_status` is the HTTP status of the
// same outcome (status.h's table), so one reader serves both front ends'
// lines.
void RecordAudit(const GrpcState& state, std::optional<AuditEvent> event, int http_status, std::string_view detail) {
  if (!event) return;
  event->status = http_status;
  event->detail = std::string(detail.empty() ? "ok" : detail);
  state.shared.audit->Record(std::move(*event));
}

void Audit(const GrpcState& state, const Context* ctx, std::string_view action, std::string_view method,
           int http_status, std::string_view detail) {
  RecordAudit(state, AuditEventFor(state, ctx, action, method), http_status, detail);
}

// What a ModelInfer call holds while it is served: one of the calls in
// flight that max_connections allows and its bytes of the in-flight
// budget, both given back when the ticket is destroyed (with the call's
// PendingGrpcInfer, once the Backend has answered).
class CallTicket {
 public:
  // Takes a call slot and the charge of a message of `message_bytes`;
  // Unavailable naming the limit when either is spent.
  static StatusOr<std::unique_ptr<CallTicket>> Take(std::shared_ptr<GrpcState> state, std::size_t message_bytes) {
    const std::size_t max_calls = state->options.common.max_connections;
    if (state->calls_in_flight.fetch_add(1) >= max_calls) {
      state->calls_in_flight.fetch_sub(1);
      return Status::Unavailable("the server is serving as many gRPC calls as it allows (max_connections = " +
                                 std::to_string(max_calls) + "); retry later");
    }
    InflightBudget& budget = *state->shared.inflight;
    const std::size_t charge = budget.ChargeFor(message_bytes);  // 0 when there is no budget
    if (!budget.Take(charge)) {
      state->calls_in_flight.fetch_sub(1);
      return Status::Unavailable("the server holds as many request bytes as its budget allows (max_inflight_bytes = " +
                                 std::to_string(budget.budget()) + "); retry later");
    }
    return std::unique_ptr<CallTicket>(new CallTicket(std::move(state), charge));
  }
  CallTicket(const CallTicket&) = delete;
  CallTicket& operator=(const CallTicket&) = delete;
  ~CallTicket() {
    state_->shared.inflight->Give(charge_);
    state_->calls_in_flight.fetch_sub(1);
  }

 private:
  CallTicket(std::shared_ptr<GrpcState> state, std::size_t charge) : state_(std::move(state)), charge_(charge) {}
  const std::shared_ptr<GrpcState> state_;
  const std::size_t charge_;
};

// The auth check of a method that needs `scope`: nullopt when the call may
// go on, else the answer. HTTP's rules: without any token only the
// repository methods are closed (they need an admin credential, and are off
// without one); the health methods never call this.
std::optional<grpc::Status> Screen(GrpcState& state, Context* ctx, std::string_view method, unsigned scope,
                                   std::string_view model = {}) {
  AuthDecision decision;
  std::string prefix;
  // Counts, audits and returns a refusal.
  const auto deny = [&](int http_status, grpc::Status status) {
    ReportRefusal(state, model, http_status);
    Audit(state, ctx, http_status == 429 ? "refused" : "auth.failed", method, http_status, status.error_message());
    return status;
  };
  if (scope == kScopeAdmin) {
    if (state.repository == nullptr) {
      return grpc::Status(grpc::StatusCode::UNIMPLEMENTED, "this server has no model repository");
    }
    if (!state.tokens.AdminConfigured()) {
      return deny(403, grpc::Status(grpc::StatusCode::PERMISSION_DENIED,
                                    "the repository methods are off; start the server with an admin token "
                                    "(--admin-token, MLSHIP_ADMIN_TOKEN or admin_token=) or a token file with an "
                                    "admin-scoped token (--token-file) to use them"));
    }
    prefix = "the repository methods need the admin token: ";
    decision = state.tokens.Authorize(MetadataValue(ctx, "authorization"), {}, /*is_get=*/false, kScopeAdmin);
  } else {
    if (!state.tokens.Enabled()) return std::nullopt;
    decision = state.tokens.Authorize(MetadataValue(ctx, "authorization"), {}, /*is_get=*/false, scope);
  }
  switch (decision.outcome) {
    case AuthDecision::Outcome::kAllowed: return std::nullopt;
    case AuthDecision::Outcome::kUnauthenticated:
      return deny(401, grpc::Status(grpc::StatusCode::UNAUTHENTICATED,
                                    Bounded(prefix + decision.message +
                                            " (send metadata 'authorization: Bearer <token>')")));
    case AuthDecision::Outcome::kForbidden:
      return deny(403, grpc::Status(grpc::StatusCode::PERMISSION_DENIED, Bounded(prefix + decision.message)));
    case AuthDecision::Outcome::kRateLimited:
      ctx->AddTrailingMetadata("retry-after", std::to_string(decision.retry_after_s));
      return deny(429, grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                                    Bounded(decision.message + "; retry after " +
                                            std::to_string(decision.retry_after_s) + " s")));
  }
  return grpc::Status(grpc::StatusCode::INTERNAL, "unknown auth outcome");
}

Reactor* Unimplemented(Context* ctx, std::string_view what) {
  return Answer(ctx, grpc::Status(grpc::StatusCode::UNIMPLEMENTED,
                                  "mlship does not implement " + std::string(what) +
                                      "; see docs/serving.md for the methods it serves"));
}

void FillTensorMetadata(const std::vector<TensorSpec>& specs,
                        google::protobuf::RepeatedPtrField<inference::ModelMetadataResponse::TensorMetadata>* out) {
  for (const TensorSpec& spec : specs) {
    auto* t = out->Add();
    t->set_name(spec.name);
    t->set_datatype(std::string(DTypeName(spec.dtype)));
    for (const int64_t d : spec.shape) t->add_shape(d);
  }
}

inference::DataType ProtoDataType(const std::string& name) {
  inference::DataType value = inference::TYPE_INVALID;
  inference::DataType_Parse(name, &value);
  return value;
}

void FillDuration(const DurationStatistic& d, inference::StatisticDuration* out) {
  out->set_count(d.count);
  out->set_ns(d.ns);
}

// One ModelInfer call in the Backend's hands. The first Complete()
// finishes the call; a Backend that drops its callback without calling it
// still gets the client an answer (the destructor).
class PendingGrpcInfer {
 public:
  // `reactor` is ctx's default reactor (which may be asked for only once).
  PendingGrpcInfer(std::shared_ptr<GrpcState> state, std::unique_ptr<CallTicket> ticket, Context* ctx,
                   Reactor* reactor, inference::ModelInferResponse* out, InferResponseHeader header,
                   std::vector<std::string> requested, bool raw)
      : state_(std::move(state)),
        ticket_(std::move(ticket)),
        ctx_(ctx),
        reactor_(reactor),
        out_(out),
        header_(std::move(header)),
        requested_(std::move(requested)),
        raw_(raw) {}

  ~PendingGrpcInfer() {
    if (!completed_.exchange(true)) Finish(Status::Internal("the model backend dropped the request without answering"));
  }

  void Complete(StatusOr<InferResponse> result) {
    if (completed_.exchange(true)) return;
    if (!result.ok()) return Finish(result.status());
    if (!result->model_version.empty()) header_.model_version = result->model_version;
    out_->set_model_name(header_.model_name);
    out_->set_model_version(header_.model_version);
    out_->set_id(header_.id);
    const Status encoded = EncodeGrpcInferOutputs(result->outputs, requested_, raw_, *out_);
    if (!encoded.ok()) {
      out_->Clear();
      return Finish(encoded);
    }
    ctx_->AddInitialMetadata(kRequestIdMetadata, MetadataSafe(header_.id));
    ctx_->AddInitialMetadata(kModelVersionMetadata, MetadataSafe(header_.model_version));
    ticket_.reset();
    reactor_->Finish(grpc::Status::OK);
  }

 private:
  // Errors about the request say what was wrong. A model failure (HTTP's
  // 500) can hold paths, code or data: unless expose_model_errors it goes to
  // the server log and the client gets the request id that finds it there.
  void Finish(const Status& status) {
    ticket_.reset();
    ctx_->AddInitialMetadata(kRequestIdMetadata, MetadataSafe(header_.id));
    if (HttpStatusFor(status.code()) != 500) {
      reactor_->Finish(ToGrpc(status));
      return;
    }
    state_->LogError("mlship: gRPC request " + Bounded(header_.id, 256) + " to model '" +
                     Bounded(header_.model_name, 128) + "' version '" + Bounded(header_.model_version, 128) +
                     "' failed (" + std::string(StatusCodeName(status.code())) +
                     "): " + Bounded(status.message(), kMaxLoggedErrorBytes));
    const std::string message =
        state_->options.common.expose_model_errors
            ? Bounded(status.message()) + " (request id " + header_.id + ")"
            : "the model failed on this request; request id " + header_.id + "; the server log has the details";
    reactor_->Finish(grpc::Status(grpc::StatusCode::INTERNAL, Bounded(message)));
  }

  const std::shared_ptr<GrpcState> state_;
  // Held until the call is finished (given back just before, so a client
  // that has its answer finds the slot and the bytes free again).
  std::unique_ptr<CallTicket> ticket_;
  Context* const ctx_;
  Reactor* const reactor_;
  inference::ModelInferResponse* const out_;
  InferResponseHeader header_;
  const std::vector<std::string> requested_;
  const bool raw_;
  std::atomic<bool> completed_{false};
};

// A repository load or unload in the control's hands; same once-only rule.
// Its outcome is audited (`event`, null when the audit log is off).
class PendingControl {
 public:
  PendingControl(std::shared_ptr<GrpcState> state, Reactor* reactor, std::optional<AuditEvent> event)
      : state_(std::move(state)), reactor_(reactor), event_(std::move(event)) {}
  ~PendingControl() { Complete(Status::Internal("the server dropped the request without answering")); }
  void Complete(const Status& status) {
    if (completed_.exchange(true)) return;
    RecordAudit(*state_, std::move(event_), status.ok() ? 200 : HttpStatusFor(status.code()),
                status.ok() ? "ok" : Bounded(status.message()));
    reactor_->Finish(status.ok() ? grpc::Status::OK : ToGrpc(status));
  }

 private:
  const std::shared_ptr<GrpcState> state_;
  Reactor* const reactor_;
  std::optional<AuditEvent> event_;
  std::atomic<bool> completed_{false};
};

// The answer to ModelStreamInfer: UNIMPLEMENTED at once.
class UnimplementedStream final
    : public grpc::ServerBidiReactor<inference::ModelInferRequest, inference::ModelStreamInferResponse> {
 public:
  UnimplementedStream() {
    Finish(grpc::Status(grpc::StatusCode::UNIMPLEMENTED,
                        "mlship does not implement ModelStreamInfer (streaming inference); call ModelInfer, which "
                        "the server batches the same way"));
  }
  void OnDone() override { delete this; }
};

// When the client's gRPC deadline falls, on the steady clock; max when it
// set none.
std::chrono::steady_clock::time_point ClientDeadline(const Context* ctx) {
  const auto deadline = ctx->deadline();
  const auto now = std::chrono::system_clock::now();
  // gRPC reports "no deadline" as a time centuries ahead.
  if (deadline > now + std::chrono::hours(24 * 365)) return std::chrono::steady_clock::time_point::max();
  return std::chrono::steady_clock::now() +
         std::chrono::duration_cast<std::chrono::steady_clock::duration>(deadline - now);
}

}  // namespace

void GrpcState::LogError(std::string_view line) const {
  if (options.common.error_log) {
    options.common.error_log(line);
  } else {
    std::cerr << line << std::endl;
  }
}

Reactor* InferenceService::ServerLive(Context* ctx, const inference::ServerLiveRequest*,
                                      inference::ServerLiveResponse* out) {
  out->set_live(state_->backend->Live());
  return Answer(ctx, grpc::Status::OK);
}

Reactor* InferenceService::ServerReady(Context* ctx, const inference::ServerReadyRequest*,
                                       inference::ServerReadyResponse* out) {
  out->set_ready(!state_->draining.load() && state_->backend->Ready());
  return Answer(ctx, grpc::Status::OK);
}

Reactor* InferenceService::ModelReady(Context* ctx, const inference::ModelReadyRequest* in,
                                      inference::ModelReadyResponse* out) {
  if (auto denied = Screen(*state_, ctx, "ModelReady", kScopeRead)) return Answer(ctx, *denied);
  // Unknown models are not ready (as Triton answers), not an error.
  StatusOr<ModelInfo> info = state_->backend->Find(in->name(), in->version());
  out->set_ready(info.ok() && !state_->draining.load() && state_->backend->ModelReady(info->name, info->version));
  return Answer(ctx, grpc::Status::OK);
}

Reactor* InferenceService::ServerMetadata(Context* ctx, const inference::ServerMetadataRequest*,
                                          inference::ServerMetadataResponse* out) {
  if (auto denied = Screen(*state_, ctx, "ServerMetadata", kScopeRead)) return Answer(ctx, *denied);
  out->set_name("mlship");
  out->set_version(MLSHIP_VERSION);
  out->add_extensions("model_configuration");
  out->add_extensions("statistics");
  if (state_->repository != nullptr && state_->tokens.HasAdmin()) out->add_extensions("model_repository");
  return Answer(ctx, grpc::Status::OK);
}

Reactor* InferenceService::ModelMetadata(Context* ctx, const inference::ModelMetadataRequest* in,
                                         inference::ModelMetadataResponse* out) {
  if (auto denied = Screen(*state_, ctx, "ModelMetadata", kScopeRead)) return Answer(ctx, *denied);
  StatusOr<ModelInfo> info = state_->backend->Find(in->name(), in->version());
  if (!info.ok()) return Answer(ctx, info.status());
  out->set_name(info->name);
  for (const std::string& v : info->versions) out->add_versions(v);
  out->set_platform(info->platform);
  FillTensorMetadata(info->signature.inputs, out->mutable_inputs());
  FillTensorMetadata(info->signature.outputs, out->mutable_outputs());
  return Answer(ctx, grpc::Status::OK);
}

Reactor* InferenceService::ModelInfer(Context* ctx, const inference::ModelInferRequest* in,
                                      inference::ModelInferResponse* out) {
  GrpcState& state = *state_;
  if (auto denied = Screen(state, ctx, "ModelInfer", kScopeInfer, in->model_name())) return Answer(ctx, *denied);
  auto refuse = [&](const Status& status) {
    ReportRefusal(state, in->model_name(), HttpStatusFor(status.code()));
    return Answer(ctx, status);
  };
  // Capacity refusals are audited, as HTTP's are (not the request's own errors).
  auto refuse_audited = [&](const Status& status) {
    Audit(state, ctx, "refused", "ModelInfer", HttpStatusFor(status.code()), Bounded(status.message()));
    return refuse(status);
  };
  if (state.draining.load()) return refuse_audited(Status::Unavailable("the server is shutting down"));
  StatusOr<std::unique_ptr<CallTicket>> ticket = CallTicket::Take(state_, in->ByteSizeLong());
  if (!ticket.ok()) return refuse_audited(ticket.status());
  StatusOr<ModelInfo> info = state.backend->Find(in->model_name(), in->model_version());
  if (!info.ok()) return refuse(info.status());
  if (!state.backend->ModelReady(info->name, info->version)) {
    return refuse(Status::Unavailable("model '" + info->name + "' version '" + info->version +
                                      "' is not ready; retry later"));
  }
  const CodecLimits& limits = state.options.common.codec;
  if (in->id().size() > limits.max_id_bytes) {
    return refuse(Status::InvalidArgument("the request id must be at most " + std::to_string(limits.max_id_bytes) +
                                          " bytes; got " + std::to_string(in->id().size())));
  }
  StatusOr<GrpcDecodedRequest> decoded = DecodeGrpcInferRequest(*in, info->signature, limits);
  if (!decoded.ok()) return refuse(decoded.status());

  InferRequest request;
  request.model_name = info->name;
  // As requested (a version, an alias or empty): the Backend resolves it
  // again as it takes the request.
  request.model_version = in->model_version();
  request.id = in->id().empty() ? NewRequestId() : in->id();
  const std::string_view key = MetadataValue(ctx, kRoutingKeyMetadata);
  if (key.size() > kMaxRoutingKeyBytes) {
    return refuse(Status::InvalidArgument(std::string(kRoutingKeyMetadata) + " must be at most " +
                                          std::to_string(kMaxRoutingKeyBytes) + " bytes; got " +
                                          std::to_string(key.size())));
  }
  request.routing_key = key.empty() ? std::move(decoded->routing_key) : std::string(key);
  request.inputs = std::move(decoded->inputs);
  request.requested_outputs = decoded->requested_outputs;
  request.deadline = ClientDeadline(ctx);
  if (state.options.common.request_timeout.count() > 0) {
    request.deadline = std::min(request.deadline, std::chrono::steady_clock::now() + state.options.common.request_timeout);
  }

  Reactor* reactor = ctx->DefaultReactor();
  auto pending = std::make_shared<PendingGrpcInfer>(state_, std::move(*ticket), ctx, reactor, out,
                                                    InferResponseHeader{info->name, info->version, request.id},
                                                    std::move(decoded->requested_outputs), decoded->raw_outputs);
  InferCallback done = [pending](StatusOr<InferResponse> result) { pending->Complete(std::move(result)); };
  try {
    state.backend->Infer(std::move(request), done);
  } catch (...) {
    done(Status::Internal("the model backend failed to accept the request"));
  }
  return reactor;
}

grpc::ServerBidiReactor<inference::ModelInferRequest, inference::ModelStreamInferResponse>*
InferenceService::ModelStreamInfer(Context*) {
  return new UnimplementedStream();
}

Reactor* InferenceService::ModelConfig(Context* ctx, const inference::ModelConfigRequest* in,
                                       inference::ModelConfigResponse* out) {
  if (auto denied = Screen(*state_, ctx, "ModelConfig", kScopeRead)) return Answer(ctx, *denied);
  StatusOr<ModelInfo> info = state_->backend->Find(in->name(), in->version());
  if (!info.ok()) return Answer(ctx, info.status());
  StatusOr<ModelConfigInfo> config = state_->backend->Config(info->name, info->version);
  if (!config.ok()) return Answer(ctx, config.status());
  const TritonModelConfig synthesized = SynthesizeTritonConfig(*info, *config);
  inference::ModelConfig* c = out->mutable_config();
  c->set_name(synthesized.name);
  c->set_platform(synthesized.platform);
  c->set_backend(synthesized.backend);
  c->set_max_batch_size(static_cast<int32_t>(synthesized.max_batch_size));
  for (const auto& t : synthesized.inputs) {
    auto* input = c->add_input();
    input->set_name(t.name);
    input->set_data_type(ProtoDataType(t.data_type));
    for (const int64_t d : t.dims) input->add_dims(d);
  }
  for (const auto& t : synthesized.outputs) {
    auto* output = c->add_output();
    output->set_name(t.name);
    output->set_data_type(ProtoDataType(t.data_type));
    for (const int64_t d : t.dims) output->add_dims(d);
  }
  auto* group = c->add_instance_group();
  group->set_name(synthesized.name);
  group->set_kind(inference::ModelInstanceGroup::KIND_CPU);
  group->set_count(synthesized.instance_count);
  if (synthesized.max_batch_size > 0) {
    auto* batching = c->mutable_dynamic_batching();
    for (const int64_t size : synthesized.preferred_batch_sizes) batching->add_preferred_batch_size(static_cast<int32_t>(size));
    batching->set_max_queue_delay_microseconds(static_cast<uint64_t>(synthesized.max_queue_delay_us));
  }
  return Answer(ctx, grpc::Status::OK);
}

Reactor* InferenceService::ModelStatistics(Context* ctx, const inference::ModelStatisticsRequest* in,
                                           inference::ModelStatisticsResponse* out) {
  if (auto denied = Screen(*state_, ctx, "ModelStatistics", kScopeRead)) return Answer(ctx, *denied);
  StatusOr<std::vector<serving::ModelStatistics>> stats = state_->backend->Statistics(in->name(), in->version());
  if (!stats.ok()) return Answer(ctx, stats.status());
  for (const serving::ModelStatistics& s : *stats) {
    auto* m = out->add_model_stats();
    m->set_name(s.name);
    m->set_version(s.version);
    m->set_last_inference(s.last_inference_ms);
    m->set_inference_count(s.inference_count);
    m->set_execution_count(s.execution_count);
    auto* infer = m->mutable_inference_stats();
    FillDuration(s.success, infer->mutable_success());
    FillDuration(s.fail, infer->mutable_fail());
    FillDuration(s.queue, infer->mutable_queue());
    FillDuration({}, infer->mutable_compute_input());
    FillDuration(s.compute_infer, infer->mutable_compute_infer());
    FillDuration({}, infer->mutable_compute_output());
  }
  return Answer(ctx, grpc::Status::OK);
}

Reactor* InferenceService::RepositoryIndex(Context* ctx, const inference::RepositoryIndexRequest* in,
                                           inference::RepositoryIndexResponse* out) {
  if (auto denied = Screen(*state_, ctx, "RepositoryIndex", kScopeAdmin)) return Answer(ctx, *denied);
  for (const RepositoryIndexEntry& e : state_->repository->RepositoryIndex(in->ready())) {
    auto* row = out->add_models();
    row->set_name(e.name);
    row->set_version(e.version);
    row->set_state(e.state);
    row->set_reason(e.reason);
  }
  Audit(*state_, ctx, "repository.index", "RepositoryIndex", 200, "ok");
  return Answer(ctx, grpc::Status::OK);
}

Reactor* InferenceService::RepositoryModelLoad(Context* ctx, const inference::RepositoryModelLoadRequest* in,
                                               inference::RepositoryModelLoadResponse*) {
  if (auto denied = Screen(*state_, ctx, "RepositoryModelLoad", kScopeAdmin)) return Answer(ctx, *denied);
  Reactor* reactor = ctx->DefaultReactor();
  auto pending = std::make_shared<PendingControl>(state_, reactor,
                                                  AuditEventFor(*state_, ctx, "repository.load", "RepositoryModelLoad"));
  if (state_->draining.load()) {
    pending->Complete(Status::Unavailable("the server is shutting down"));
    return reactor;
  }
  try {
    state_->repository->LoadModel(in->model_name(), [pending](Status status) { pending->Complete(status); });
  } catch (...) {
    pending->Complete(Status::Internal("the server failed to accept the request"));
  }
  return reactor;
}

Reactor* InferenceService::RepositoryModelUnload(Context* ctx, const inference::RepositoryModelUnloadRequest* in,
                                                 inference::RepositoryModelUnloadResponse*) {
  if (auto denied = Screen(*state_, ctx, "RepositoryModelUnload", kScopeAdmin)) return Answer(ctx, *denied);
  Reactor* reactor = ctx->DefaultReactor();
  auto pending = std::make_shared<PendingControl>(state_, reactor,
                                                  AuditEventFor(*state_, ctx, "repository.unload", "RepositoryModelUnload"));
  if (state_->draining.load()) {
    pending->Complete(Status::Unavailable("the server is shutting down"));
    return reactor;
  }
  try {
    state_->repository->UnloadModel(in->model_name(), [pending](Status status) { pending->Complete(status); });
  } catch (...) {
    pending->Complete(Status::Internal("the server failed to accept the request"));
  }
  return reactor;
}

Reactor* InferenceService::SystemSharedMemoryStatus(Context* ctx, const inference::SystemSharedMemoryStatusRequest*,
                                                    inference::SystemSharedMemoryStatusResponse*) {
  return Unimplemented(ctx, "the system shared memory extension (send tensors in raw_input_contents)");
}
Reactor* InferenceService::SystemSharedMemoryRegister(Context* ctx,
                                                      const inference::SystemSharedMemoryRegisterRequest*,
                                                      inference::SystemSharedMemoryRegisterResponse*) {
  return Unimplemented(ctx, "the system shared memory extension (send tensors in raw_input_contents)");
}
Reactor* InferenceService::SystemSharedMemoryUnregister(Context* ctx,
                                                        const inference::SystemSharedMemoryUnregisterRequest*,
                                                        inference::SystemSharedMemoryUnregisterResponse*) {
  return Unimplemented(ctx, "the system shared memory extension (send tensors in raw_input_contents)");
}
Reactor* InferenceService::CudaSharedMemoryStatus(Context* ctx, const inference::CudaSharedMemoryStatusRequest*,
                                                  inference::CudaSharedMemoryStatusResponse*) {
  return Unimplemented(ctx, "the CUDA shared memory extension (send tensors in raw_input_contents)");
}
Reactor* InferenceService::CudaSharedMemoryRegister(Context* ctx, const inference::CudaSharedMemoryRegisterRequest*,
                                                    inference::CudaSharedMemoryRegisterResponse*) {
  return Unimplemented(ctx, "the CUDA shared memory extension (send tensors in raw_input_contents)");
}
Reactor* InferenceService::CudaSharedMemoryUnregister(Context* ctx,
                                                      const inference::CudaSharedMemoryUnregisterRequest*,
                                                      inference::CudaSharedMemoryUnregisterResponse*) {
  return Unimplemented(ctx, "the CUDA shared memory extension (send tensors in raw_input_contents)");
}
Reactor* InferenceService::TraceSetting(Context* ctx, const inference::TraceSettingRequest*,
                                        inference::TraceSettingResponse*) {
  return Unimplemented(ctx, "the trace extension");
}
Reactor* InferenceService::LogSettings(Context* ctx, const inference::LogSettingsRequest*,
                                       inference::LogSettingsResponse*) {
  return Unimplemented(ctx, "the logging extension");
}

}  // namespace mlship::serving::internal
