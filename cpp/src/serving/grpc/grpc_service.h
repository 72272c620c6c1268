// The GRPCInferenceService handlers and what they share (internal to
// mlship_grpc).
#pragma once

#include <atomic>
#include <memory>
#include <string_view>

#include "grpc_inference.grpc.pb.h"
#include "mlship/serving/grpc_server.h"
#include "token_authority.h"

namespace mlship::serving::internal {

// Shared by the handlers and every Backend callback still pending, so a
// late answer never touches a freed server. Thread-safe: fixed members are
// read-only; tokens locks itself; draining is atomic.
struct GrpcState {
  GrpcState(const GrpcServerOptions& options, Backend* backend, RepositoryControl* repository,
            FrontEndShared shared)
      : options(options),
        backend(backend),
        repository(repository),
        shared(std::move(shared)),
        tokens(options.common) {}

  // Writes `line` to options.common.error_log (standard error by default).
  void LogError(std::string_view line) const;

  const GrpcServerOptions options;
  Backend* const backend;
  RepositoryControl* const repository;
  // The in-flight byte budget (never null) and the audit log (null when
  // off), HTTP's when GrpcServer::Create was given them.
  const FrontEndShared shared;
  // The bearer tokens and their rate limits (HTTP's rules, own buckets).
  mutable TokenAuthority tokens;
  // Calls being served, counted against options.common.max_connections.
  std::atomic<std::size_t> calls_in_flight{0};
  // Set by Stop(): readiness false, new calls UNAVAILABLE.
  std::atomic<bool> draining{false};
};

// Every method of the service, on gRPC's callback API. Each unary handler
// returns a reactor; ModelInfer and the repository's load and unload finish
// theirs from the Backend's (or the control's) callback, on whichever thread
// it runs.
class InferenceService final : public inference::GRPCInferenceService::CallbackService {
 public:
  explicit InferenceService(std::shared_ptr<GrpcState> state) : state_(std::move(state)) {}

  using Context = grpc::CallbackServerContext;
  using Reactor = grpc::ServerUnaryReactor;

  Reactor* ServerLive(Context* ctx, const inference::ServerLiveRequest*, inference::ServerLiveResponse* out) override;
  Reactor* ServerReady(Context* ctx, const inference::ServerReadyRequest*,
                       inference::ServerReadyResponse* out) override;
  Reactor* ModelReady(Context* ctx, const inference::ModelReadyRequest* in,
                      inference::ModelReadyResponse* out) override;
  Reactor* ServerMetadata(Context* ctx, const inference::ServerMetadataRequest*,
                          inference::ServerMetadataResponse* out) override;
  Reactor* ModelMetadata(Context* ctx, const inference::ModelMetadataRequest* in,
                         inference::ModelMetadataResponse* out) override;
  Reactor* ModelInfer(Context* ctx, const inference::ModelInferRequest* in,
                      inference::ModelInferResponse* out) override;
  grpc::ServerBidiReactor<inference::ModelInferRequest, inference::ModelStreamInferResponse>* ModelStreamInfer(
      Context* ctx) override;
  Reactor* ModelConfig(Context* ctx, const inference::ModelConfigRequest* in,
                       inference::ModelConfigResponse* out) override;
  Reactor* ModelStatistics(Context* ctx, const inference::ModelStatisticsRequest* in,
                           inference::ModelStatisticsResponse* out) override;
  Reactor* RepositoryIndex(Context* ctx, const inference::RepositoryIndexRequest* in,
                           inference::RepositoryIndexResponse* out) override;
  Reactor* RepositoryModelLoad(Context* ctx, const inference::RepositoryModelLoadRequest* in,
                               inference::RepositoryModelLoadResponse* out) override;
  Reactor* RepositoryModelUnload(Context* ctx, const inference::RepositoryModelUnloadRequest* in,
                                 inference::RepositoryModelUnloadResponse* out) override;
  Reactor* SystemSharedMemoryStatus(Context* ctx, const inference::SystemSharedMemoryStatusRequest*,
                                    inference::SystemSharedMemoryStatusResponse*) override;
  Reactor* SystemSharedMemoryRegister(Context* ctx, const inference::SystemSharedMemoryRegisterRequest*,
                                      inference::SystemSharedMemoryRegisterResponse*) override;
  Reactor* SystemSharedMemoryUnregister(Context* ctx, const inference::SystemSharedMemoryUnregisterRequest*,
                                        inference::SystemSharedMemoryUnregisterResponse*) override;
  Reactor* CudaSharedMemoryStatus(Context* ctx, const inference::CudaSharedMemoryStatusRequest*,
                                  inference::CudaSharedMemoryStatusResponse*) override;
  Reactor* CudaSharedMemoryRegister(Context* ctx, const inference::CudaSharedMemoryRegisterRequest*,
                                    inference::CudaSharedMemoryRegisterResponse*) override;
  Reactor* CudaSharedMemoryUnregister(Context* ctx, const inference::CudaSharedMemoryUnregisterRequest*,
                                      inference::CudaSharedMemoryUnregisterResponse*) override;
  Reactor* TraceSetting(Context* ctx, const inference::TraceSettingRequest*,
                        inference::TraceSettingResponse*) override;
  Reactor* LogSettings(Context* ctx, const inference::LogSettingsRequest*, inference::LogSettingsResponse*) override;

 private:
  const std::shared_ptr<GrpcState> state_;
};

}  // namespace mlship::serving::internal
