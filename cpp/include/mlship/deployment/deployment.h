// Deployment: the one-model shortcut over Server. It serves one model under
// one name, updates it in place (a hot swap to a new version) and rolls it
// back, with the same batching, workers, monitoring and HTTP front end as a
// many-model server.
//
// Lifecycle: Create -> serving (ready) -> Stop: readiness goes false, new
// requests get Unavailable (HTTP 503), everything already accepted is
// answered, then the threads exit. No accepted request is dropped, during a
// swap or a stop.
//
// Thread-safety: every public method is safe for concurrent use.
#pragma once

#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "mlship/deployment/server.h"

namespace mlship {

class Deployment {
 public:
  // Validates `options` (the server's, and options.name / version /
  // version_options / model for the model), starts the server and serves
  // `model` as options.name, version options.version. `fallback`, when
  // given, must take the same inputs and give as many outputs; it is served
  // as version "fallback" and takes the traffic while the model breaches
  // options.model.slo (see Restore()). Errors: InvalidArgument naming the
  // bad option; Unavailable when the port cannot be bound.
  static StatusOr<std::unique_ptr<Deployment>> Create(std::shared_ptr<Model> model, ServingOptions options,
                                                      std::shared_ptr<Model> fallback = nullptr);
  // Stop(true).
  ~Deployment();

  // In-process request: validated against the signature, then batched.
  // `done` is called exactly once, from any thread (possibly this one).
  void Submit(std::vector<at::Tensor> inputs, TensorTask::TimePoint deadline, TensorCallback done);
  // In-process request, answered before this returns (see Server::Predict).
  StatusOr<std::vector<at::Tensor>> Predict(std::vector<at::Tensor> inputs, TensorTask::TimePoint deadline,
                                            PredictCallers callers = PredictCallers::kIndependent);

  // Serves `model` as a new version (`version`, or the next integer) and
  // swaps the traffic to it: loaded, warmed up, checked against `golden`
  // when given, switched in one step, then the old version drains and is
  // freed. A model that fails the check never takes traffic. The model must
  // take the same inputs.
  Status Update(std::shared_ptr<Model> model, std::optional<GoldenData> golden = std::nullopt,
                std::string version = "");
  // Swaps back to the version before the last Update (as a swap: no
  // request fails). FailedPrecondition when there is none.
  Status Rollback();

  // Stops as described above. With drain=false, queued requests are answered
  // with Unavailable instead of being run. Idempotent.
  void Stop(bool drain);

  // The bound HTTP port, or 0 without HTTP.
  int port() const { return server_->port(); }
  // The bound gRPC port, or 0 without gRPC.
  int grpc_port() const { return server_->grpc_port(); }
  // See Server::ReloadTokens.
  Status ReloadTokens() { return server_->ReloadTokens(); }
  // See Server::ReloadTls, Server::Reload and Server::serves_tls.
  Status ReloadTls() { return server_->ReloadTls(); }
  Status Reload(std::string* done = nullptr) { return server_->Reload(done); }
  bool serves_tls() const { return server_->serves_tls(); }
  const ServingOptions& options() const { return options_; }
  // The model and version serving now (not the fallback).
  std::shared_ptr<Model> model() const;
  std::string version() const;
  // Every version served so far, oldest first (for rollback).
  std::vector<std::string> history() const;
  bool draining() const { return server_->draining(); }
  Server& server() { return *server_; }
  const Server& server() const { return *server_; }

  // The current version's monitor, or null when monitoring is off. Valid
  // while the version serves; hold a Server::Version handle for longer.
  monitor::ModelMonitor* monitor() const;
  // Profiles `reference` for drift and anomaly checks on the current version
  // (and on every later one). See ModelVersion::SetReference.
  Status SetReference(const at::Tensor& reference);
  // Moves traffic from the fallback back to the model.
  Status Restore();
  // The Prometheus text of the server's metrics.
  std::string MetricsText() const { return server_->MetricsText(); }

 private:
  struct Served {
    std::string version;
    std::shared_ptr<Model> model;
  };
  explicit Deployment(ServingOptions options) : options_(std::move(options)) {}
  // Serves `served` as the new default (Swap).
  Status SwapTo(const Served& served, std::optional<GoldenData> golden);

  ServingOptions options_;
  std::unique_ptr<Server> server_;
  // Guards history_ and reference_.
  mutable std::mutex mu_;
  // Versions served, oldest first; the last one serves now.
  std::vector<Served> history_;  // GUARDED_BY(mu_)
  // The reference every version gets.
  std::optional<at::Tensor> reference_;  // GUARDED_BY(mu_)
  // Serializes Update and Rollback.
  std::mutex update_mu_;
};

}  // namespace mlship
