// Backend: what the HTTP server asks about models and how it runs them.
//
// The server owns the network edge and the KServe v2 wire format; the Backend
// owns everything behind it (versions, batching, instances, monitoring). The
// deployment layer provides the real one; tests provide fakes.
#pragma once

#include <chrono>
#include <optional>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "mlship/engine/signature.h"
#include "mlship/serving/host_tensor.h"
#include "mlship/status.h"

namespace mlship::serving {

// One explanation method as a version of a model offers it (or not).
struct ExplainMethodInfo {
  // "integrated_gradients", "kernel_shap", ...
  std::string name;
  // False when the model cannot support it (e.g. gradients of a .pt2).
  bool supported = false;
  // Why not, when not supported.
  std::string reason;
};

// What the server publishes about one version of a model.
struct ModelInfo {
  // The model's name, as it appears in URLs (/v2/models/<name>).
  std::string name;
  // The version this info describes. Find() with an empty version resolves
  // it to the default version and reports which one here.
  std::string version;
  // Every version of the model that can be addressed, in the order the
  // metadata endpoint lists them.
  std::vector<std::string> versions;
  // The KServe platform string: "pytorch_torchscript", "pytorch_aoti", ...
  std::string platform;
  // Inputs and outputs of `version`; requests are checked against it.
  Signature signature;
  // Every explanation method the engine knows, each marked supported or not
  // for this version; empty when the backend computes no explanations
  // (/explain then answers 501).
  std::vector<ExplainMethodInfo> explain_methods;
};

// One decoded inference request, already checked against the Signature.
struct InferRequest {
  // The model addressed.
  std::string model_name;
  // The version addressed, as the client named it: a version, an alias, or
  // empty for the model's default. The Backend resolves it as it takes the
  // request (Find() resolved it earlier for decoding, but versions may swap
  // in between); the response names the version that ran.
  std::string model_version;
  // The request id ("id" in the JSON, or one the server made up when the
  // client sent none), echoed in the response; outcomes reported later join
  // on it.
  std::string id;
  // Keeps a client on one version of a traffic split (the mlship-routing-key
  // header); empty: split at random.
  std::string routing_key;
  // One tensor per Signature input, in Signature order, each with concrete
  // dimensions that fit the spec.
  std::vector<HostTensor> inputs;
  // Output names the client asked for, in its order; empty means all.
  std::vector<std::string> requested_outputs;
  // When the answer stops being useful; time_point::max() means no deadline.
  // A Backend that misses it should answer DeadlineExceeded (HTTP 504).
  std::chrono::steady_clock::time_point deadline = std::chrono::steady_clock::time_point::max();
};

// The answer to an InferRequest.
struct InferResponse {
  // The version that actually ran; empty means the version requested.
  std::string model_version;
  // The outputs, each consistent (HostTensor::IsConsistent). The server
  // sends those the client asked for, in the order it asked; when it asked
  // for none, all of them in this order.
  std::vector<HostTensor> outputs;
};

// Called once with the outcome of Backend::Infer.
using InferCallback = std::function<void(StatusOr<InferResponse>)>;

// How to explain (the "parameters" of an explain request). The backend
// checks the ranges (steps, samples, window, targets) and says them.
struct ExplainParameters {
  // One of ModelInfo::explain_methods (checked before the Backend sees it).
  std::string method = "integrated_gradients";
  // The output column explained: empty for the predicted class, one for
  // every row, or one per row.
  std::vector<int64_t> targets;
  int steps = 32;
  // 0: the method's default.
  int samples = 0;
  int window = 1;
  uint64_t seed = 0;
  // Every baseline element takes this value; none: zeros (or, from Python,
  // `baselines`).
  std::optional<double> baseline_value;
  // One per input (the Python API's tensors); empty: baseline_value/zeros.
  std::vector<HostTensor> baselines;
};

// One decoded explain request: an infer request plus how to explain it.
struct ExplainRequest {
  InferRequest request;
  ExplainParameters parameters;
};

// The answer to an ExplainRequest.
struct ExplainResponse {
  // The version that ran; empty means the version requested.
  std::string model_version;
  // The model's outputs, then "<input>_attribution" per input, then
  // "explain_target" (INT64, per row) and, where the method has one,
  // "explain_delta" (FP32, per row: the completeness delta).
  std::vector<HostTensor> tensors;
  // Input rows the model was run on.
  int64_t evaluations = 0;
};

using ExplainCallback = std::function<void(StatusOr<ExplainResponse>)>;

// A request the server answered with an error before handing it to
// Backend::Infer: malformed HTTP or JSON, a wrong token, a size limit, an
// unknown model or endpoint, a full server, a stop in progress.
struct RefusedRequest {
  // The model an infer URL named (/v2/models/<model>/...infer), verbatim;
  // empty for every other request, and when the URL was never read (headers
  // too large, malformed HTTP, connection limit).
  std::string_view model;
  // Why, as a metric label: see RefusalReasonFor.
  std::string_view reason;
  // The HTTP status sent.
  int http_status = 0;
};

// The reason label for a refusal with `http_status`: the Status code name
// that maps to it where there is one (400 "invalid_argument", 401
// "unauthenticated", 404 "not_found", 409 "failed_precondition", 413
// "resource_exhausted", 500 "internal", 503 "unavailable", 504
// "deadline_exceeded"), else 403 "forbidden", 405 "method_not_allowed",
// 415 "unsupported_media_type", 429 "rate_limited" (a token over its rate
// limit), 431 "header_too_large", anything else "http_error".
std::string_view RefusalReasonFor(int http_status);

// What joining reported outcomes to predictions did.
struct OutcomeCounts {
  // Ids whose prediction was found and joined.
  int64_t matched = 0;
  // Ids never predicted (or already joined, or expired), or whose labels do
  // not match the rows predicted.
  int64_t unknown = 0;
};

// What Triton's model configuration extension reports about one version
// (GET /v2/models/{name}[/versions/{v}]/config, gRPC ModelConfig) beyond
// its ModelInfo: how it is batched and run.
struct ModelConfigInfo {
  // Rows the batcher puts in one forward pass at most; 0 when the version
  // does not batch.
  int64_t max_batch_size = 0;
  // How long the batcher waits for a batch to fill, in microseconds.
  int64_t max_queue_delay_us = 0;
  // Batch sizes formed early when reachable; empty: none.
  std::vector<int64_t> preferred_batch_sizes;
  // Threads that run the version's batches (Triton's instance count).
  int instance_count = 1;
};

// A count and the nanoseconds it took together (Triton's StatisticDuration).
struct DurationStatistic {
  uint64_t count = 0;
  uint64_t ns = 0;
};

// Cumulative statistics of one loaded version, from its monitor (Triton's
// statistics extension: GET .../stats, gRPC ModelStatistics).
struct ModelStatistics {
  std::string name;
  std::string version;
  // Milliseconds since the epoch of the last request answered; 0: none yet.
  uint64_t last_inference_ms = 0;
  // Rows run through the model (each row of a batch counts).
  uint64_t inference_count = 0;
  // Forward passes (batches) run.
  uint64_t execution_count = 0;
  // Requests answered with outputs, and their time from arrival to answer.
  DurationStatistic success;
  // Requests answered with an error (their time is not measured: ns 0).
  DurationStatistic fail;
  // Time requests waited in the batcher.
  DurationStatistic queue;
  // Forward passes and their time.
  DurationStatistic compute_infer;
};

// The model side of the server.
//
// Implementations must be safe for concurrent use from several I/O threads
// without external synchronization, and every method except Infer must be
// quick and non-blocking: they run on I/O threads.
class Backend {
 public:
  virtual ~Backend();

  // True while the process can serve at all (/v2/health/live). Default true.
  virtual bool Live() const;
  // True when the server should receive traffic (/v2/health/ready).
  // Default true.
  virtual bool Ready() const;
  // Every model served, for listings.
  virtual std::vector<ModelInfo> Models() const = 0;
  // The model `name` at `version` (empty = the default version), or
  // NotFound with a message naming what exists.
  virtual StatusOr<ModelInfo> Find(std::string_view name, std::string_view version) const = 0;
  // True when `version` of `name` can take requests now. Default: Find()
  // succeeds.
  virtual bool ModelReady(std::string_view name, std::string_view version) const;

  // Runs `request` and calls `done` exactly once with the outputs or an
  // error: InvalidArgument (400), NotFound (404), Unavailable (503: queue
  // full or draining), DeadlineExceeded (504), InferenceFailed or Internal
  // (500). Asynchronous: Infer must return promptly without waiting for the
  // model (it is called on an I/O thread), and `done` may be called from any
  // thread, before or after Infer returns. Calls after the first are ignored.
  virtual void Infer(InferRequest request, InferCallback done) = 0;

  // Explains `request` (POST .../explain) and calls `done` exactly once, like
  // Infer. Explanations run behind inference, on their own bounded queue:
  // Unavailable (503) when it is full, InvalidArgument (400) over the
  // per-request budget or for bad parameters. Default: FailedPrecondition.
  virtual void Explain(ExplainRequest request, ExplainCallback done);

  // Told about every request the server refused before Infer (see
  // RefusedRequest), so the backend can count them. Called on an I/O thread:
  // must be quick and must not throw. Default: nothing.
  virtual void RequestRefused(const RefusedRequest& refused);

  // POST /v2/models/{name}/outcomes: joins `labels` (one list per id, one
  // value per row predicted) to the predictions of `name` by request id.
  // Must be quick. Default: FailedPrecondition (outcomes not tracked).
  virtual StatusOr<OutcomeCounts> RecordOutcomes(std::string_view name, const std::vector<std::string>& ids,
                                                 const std::vector<std::vector<double>>& labels);

  // How `version` of `name` (empty: the default) is batched and run, for
  // the model configuration extension. Must be quick. Default:
  // FailedPrecondition (not reported).
  virtual StatusOr<ModelConfigInfo> Config(std::string_view name, std::string_view version) const;

  // The statistics of every loaded version of `name` (empty name: of every
  // model; a version: of that one only), for the statistics extension.
  // NotFound for an unknown model or version. Must be quick. Default:
  // FailedPrecondition (not kept).
  virtual StatusOr<std::vector<ModelStatistics>> Statistics(std::string_view name, std::string_view version) const;
};

}  // namespace mlship::serving
