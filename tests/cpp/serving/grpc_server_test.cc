// The gRPC front end over real loopback calls, against the FakeBackend:
// the base protocol (health, metadata, infer with raw and typed contents),
// Triton's config / statistics / repository methods, auth, limits, the
// Status -> gRPC code table, calls held in flight without a thread each,
// the limits shared with HTTP (calls in flight, the in-flight byte budget)
// and the audit log.
#include <gtest/gtest.h>
#include <grpcpp/grpcpp.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <future>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "fake_backend.h"
#include "grpc_inference.grpc.pb.h"
#include "mlship/serving/grpc_server.h"

namespace mlship::serving::testing {
namespace {

using inference::GRPCInferenceService;
using inference::ModelInferRequest;
using inference::ModelInferResponse;

constexpr const char* kToken = "grpc-test-token-0123456789abcdefghijkl";
constexpr const char* kAdminToken = "grpc-test-admin-0123456789abcdefghijk";

// A repository side that answers every call at once.
class FakeRepository : public RepositoryControl {
 public:
  std::vector<RepositoryIndexEntry> RepositoryIndex(bool) const override {
    return {{"doubler", "2", "READY", ""}, {"other", "", "UNAVAILABLE", "not loaded"}};
  }
  void LoadModel(std::string name, std::function<void(Status)> done) override {
    ++loads;
    done(name == "doubler" ? Status::Ok() : Status::NotFound("the repository has no model '" + name + "'"));
  }
  void UnloadModel(std::string, std::function<void(Status)> done) override {
    ++unloads;
    done(Status::Ok());
  }
  std::atomic<int> loads{0};
  std::atomic<int> unloads{0};
};

// A doubler request for x of `rows` x 3, raw.
ModelInferRequest RawRequest(const std::vector<float>& values, int64_t rows) {
  ModelInferRequest request;
  request.set_model_name("doubler");
  request.set_id("req-1");
  auto* input = request.add_inputs();
  input->set_name("x");
  input->set_datatype("FP32");
  input->add_shape(rows);
  input->add_shape(static_cast<int64_t>(values.size()) / rows);
  request.add_raw_input_contents(std::string(reinterpret_cast<const char*>(values.data()), values.size() * 4));
  return request;
}

std::vector<float> RawFloats(const std::string& bytes) {
  std::vector<float> out(bytes.size() / 4);
  std::memcpy(out.data(), bytes.data(), out.size() * 4);
  return out;
}

class GrpcServerTest : public ::testing::Test {
 protected:
  void Start(GrpcServerOptions options = {}, RepositoryControl* repository = nullptr, FrontEndShared shared = {}) {
    options.common.host = "127.0.0.1";
    options.port = 0;
    auto created = GrpcServer::Create(options, &backend_, repository, std::move(shared));
    ASSERT_TRUE(created.ok()) << created.status().ToString();
    server_ = std::move(*created);
    channel_ = grpc::CreateChannel("127.0.0.1:" + std::to_string(server_->port()), grpc::InsecureChannelCredentials());
    stub_ = GRPCInferenceService::NewStub(channel_);
  }

  // A context carrying `token` (none when empty) and a 10 s deadline.
  static std::unique_ptr<grpc::ClientContext> Context(const std::string& token = "") {
    auto ctx = std::make_unique<grpc::ClientContext>();
    if (!token.empty()) ctx->AddMetadata("authorization", "Bearer " + token);
    ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    return ctx;
  }

  grpc::Status Infer(const ModelInferRequest& request, ModelInferResponse* response, const std::string& token = "") {
    return stub_->ModelInfer(Context(token).get(), request, response);
  }

  void ExpectStillAnswers(const std::string& token = "") {
    backend_.set_behavior(FakeBackend::Behavior::kCompute);
    ModelInferResponse response;
    const grpc::Status status = Infer(RawRequest({1, 2, 3}, 1), &response, token);
    ASSERT_TRUE(status.ok()) << status.error_message();
    EXPECT_EQ(RawFloats(response.raw_output_contents(0)), (std::vector<float>{2, 4, 6}));
  }

  FakeBackend backend_;
  std::unique_ptr<GrpcServer> server_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<GRPCInferenceService::Stub> stub_;
};

TEST_F(GrpcServerTest, AnswersHealthAndMetadata) {
  Start();
  inference::ServerLiveResponse live;
  ASSERT_TRUE(stub_->ServerLive(Context().get(), {}, &live).ok());
  EXPECT_TRUE(live.live());
  inference::ServerReadyResponse ready;
  ASSERT_TRUE(stub_->ServerReady(Context().get(), {}, &ready).ok());
  EXPECT_TRUE(ready.ready());
  inference::ServerMetadataResponse server;
  ASSERT_TRUE(stub_->ServerMetadata(Context().get(), {}, &server).ok());
  EXPECT_EQ(server.name(), "mlship");

  inference::ModelMetadataRequest request;
  request.set_name("doubler");
  inference::ModelMetadataResponse model;
  ASSERT_TRUE(stub_->ModelMetadata(Context().get(), request, &model).ok());
  EXPECT_EQ(model.name(), "doubler");
  ASSERT_EQ(model.versions_size(), 2);
  ASSERT_EQ(model.inputs_size(), 1);
  EXPECT_EQ(model.inputs(0).name(), "x");
  EXPECT_EQ(model.inputs(0).datatype(), "FP32");
  EXPECT_EQ(std::vector<int64_t>(model.inputs(0).shape().begin(), model.inputs(0).shape().end()),
            (std::vector<int64_t>{-1, 3}));

  inference::ModelReadyRequest ready_request;
  ready_request.set_name("doubler");
  inference::ModelReadyResponse model_ready;
  ASSERT_TRUE(stub_->ModelReady(Context().get(), ready_request, &model_ready).ok());
  EXPECT_TRUE(model_ready.ready());
  ready_request.set_name("nope");
  ASSERT_TRUE(stub_->ModelReady(Context().get(), ready_request, &model_ready).ok());
  EXPECT_FALSE(model_ready.ready());

  request.set_name("nope");
  const grpc::Status missing = stub_->ModelMetadata(Context().get(), request, &model);
  EXPECT_EQ(missing.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_NE(missing.error_message().find("doubler"), std::string::npos) << missing.error_message();
}

TEST_F(GrpcServerTest, InfersWithRawContents) {
  Start();
  ModelInferResponse response;
  const grpc::Status status = Infer(RawRequest({1, 2, 3, 4, 5, 6}, 2), &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(response.model_name(), "doubler");
  EXPECT_EQ(response.model_version(), "2");
  EXPECT_EQ(response.id(), "req-1");
  ASSERT_EQ(response.outputs_size(), 2);
  EXPECT_EQ(response.outputs(0).name(), "y");
  EXPECT_EQ(response.outputs(0).datatype(), "FP32");
  ASSERT_EQ(response.raw_output_contents_size(), 2);
  EXPECT_EQ(RawFloats(response.raw_output_contents(0)), (std::vector<float>{2, 4, 6, 8, 10, 12}));
  EXPECT_EQ(backend_.last_request()->id, "req-1");
}

TEST_F(GrpcServerTest, InfersWithTypedContentsAndAnswersTypedWhenAsked) {
  Start();
  ModelInferRequest request;
  request.set_model_name("doubler");
  request.set_model_version("1");
  auto* input = request.add_inputs();
  input->set_name("x");
  input->set_datatype("FP32");
  input->add_shape(1);
  input->add_shape(3);
  for (float v : {1.5f, -2.0f, 0.25f}) input->mutable_contents()->add_fp32_contents(v);
  request.add_outputs()->set_name("y");
  (*request.mutable_parameters())["binary_data_output"].set_bool_param(false);
  ModelInferResponse response;
  const grpc::Status status = Infer(request, &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(response.model_version(), "1");
  EXPECT_EQ(response.raw_output_contents_size(), 0);
  ASSERT_EQ(response.outputs_size(), 1);
  const auto& y = response.outputs(0).contents().fp32_contents();
  EXPECT_EQ(std::vector<float>(y.begin(), y.end()), (std::vector<float>{3.0f, -4.0f, 0.5f}));
  EXPECT_FALSE(response.id().empty()) << "a request without an id gets one, as over HTTP";
}

TEST_F(GrpcServerTest, RefusesBadRequestsWithInvalidArgumentAndKeepsServing) {
  Start();
  ModelInferResponse response;
  grpc::Status status = Infer(RawRequest({1, 2, 3, 4}, 1), &response);  // shape [1, 4]
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(status.error_message().find("expected shape [-1, 3]"), std::string::npos) << status.error_message();
  ExpectStillAnswers();

  ModelInferRequest wrong_type = RawRequest({1, 2, 3}, 1);
  wrong_type.mutable_inputs(0)->set_datatype("INT32");
  status = Infer(wrong_type, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(status.error_message().find("expected datatype FP32"), std::string::npos) << status.error_message();

  ModelInferRequest short_raw = RawRequest({1, 2, 3}, 1);
  short_raw.set_raw_input_contents(0, "abc");
  status = Infer(short_raw, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(status.error_message().find("needs 12 bytes"), std::string::npos) << status.error_message();

  ModelInferRequest unknown = RawRequest({1, 2, 3}, 1);
  unknown.set_model_name("nope");
  status = Infer(unknown, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(backend_.infer_calls(), 1) << "only the good request reached the backend";
  const auto refusals = backend_.refusals();
  ASSERT_FALSE(refusals.empty());
  EXPECT_EQ(refusals.back(), (FakeBackend::Refusal{"nope", "not_found", 404}));
  ExpectStillAnswers();
}

TEST_F(GrpcServerTest, EnforcesMessageAndTensorLimitsWithResourceExhausted) {
  GrpcServerOptions options;
  options.common.max_body_bytes = 4096;
  options.common.codec.max_elements_per_tensor = 30;
  Start(options);
  ModelInferResponse response;
  grpc::Status status = Infer(RawRequest(std::vector<float>(3 * 400, 1.0f), 400), &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << status.error_message();
  status = Infer(RawRequest(std::vector<float>(3 * 11, 1.0f), 11), &response);  // 33 elements > 30
  EXPECT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << status.error_message();
  EXPECT_NE(status.error_message().find("30"), std::string::npos) << status.error_message();
  EXPECT_EQ(backend_.infer_calls(), 0);
  ExpectStillAnswers();
}

TEST_F(GrpcServerTest, NeedsTheTokenInMetadataExceptForHealth) {
  GrpcServerOptions options;
  options.common.token = kToken;
  Start(options);
  inference::ServerLiveResponse live;
  EXPECT_TRUE(stub_->ServerLive(Context().get(), {}, &live).ok());
  ModelInferResponse response;
  grpc::Status status = Infer(RawRequest({1, 2, 3}, 1), &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  status = Infer(RawRequest({1, 2, 3}, 1), &response, "wrong-token-wrong-token-wrong-token-00");
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(status.error_message().find("wrong-token"), std::string::npos) << "never echo a token";
  inference::ServerMetadataResponse metadata;
  EXPECT_EQ(stub_->ServerMetadata(Context().get(), {}, &metadata).error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_TRUE(stub_->ServerMetadata(Context(kToken).get(), {}, &metadata).ok());
  EXPECT_EQ(backend_.infer_calls(), 0);
  const auto refusals = backend_.refusals();
  ASSERT_FALSE(refusals.empty());
  EXPECT_EQ(refusals.front(), (FakeBackend::Refusal{"doubler", "unauthenticated", 401}));
  ExpectStillAnswers(kToken);
}

TEST_F(GrpcServerTest, RateLimitIsResourceExhaustedWithRetryAfter) {
  FakeClock clock;
  GrpcServerOptions options;
  options.common.token = kToken;
  options.common.rate_limit_per_s = 1;
  options.common.rate_limit_burst = 1;
  options.common.clock = &clock;
  Start(options);
  ExpectStillAnswers(kToken);
  grpc::ClientContext ctx;
  ctx.AddMetadata("authorization", std::string("Bearer ") + kToken);
  ModelInferResponse response;
  const grpc::Status status = stub_->ModelInfer(&ctx, RawRequest({1, 2, 3}, 1), &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  const auto retry = ctx.GetServerTrailingMetadata().find("retry-after");
  ASSERT_NE(retry, ctx.GetServerTrailingMetadata().end());
  EXPECT_EQ(std::string(retry->second.data(), retry->second.size()), "1");
  clock.Advance(std::chrono::seconds(1));
  ExpectStillAnswers(kToken);
}

TEST_F(GrpcServerTest, MapsBackendErrorsThroughTheStatusTable) {
  Start();
  const std::vector<std::pair<FakeBackend::Behavior, grpc::StatusCode>> cases = {
      {FakeBackend::Behavior::kUnavailable, grpc::StatusCode::UNAVAILABLE},
      {FakeBackend::Behavior::kDeadline, grpc::StatusCode::DEADLINE_EXCEEDED},
      {FakeBackend::Behavior::kInvalid, grpc::StatusCode::INVALID_ARGUMENT},
      {FakeBackend::Behavior::kFailInference, grpc::StatusCode::INTERNAL},
      {FakeBackend::Behavior::kThrow, grpc::StatusCode::INTERNAL},
      {FakeBackend::Behavior::kDrop, grpc::StatusCode::INTERNAL},
      {FakeBackend::Behavior::kWrongOutputSize, grpc::StatusCode::INTERNAL},
  };
  for (const auto& [behavior, code] : cases) {
    backend_.set_behavior(behavior);
    ModelInferResponse response;
    const grpc::Status status = Infer(RawRequest({1, 2, 3}, 1), &response);
    EXPECT_EQ(status.error_code(), code) << static_cast<int>(behavior) << ": " << status.error_message();
    if (code == grpc::StatusCode::INTERNAL) {
      EXPECT_NE(status.error_message().find("request id req-1"), std::string::npos) << status.error_message();
    }
  }
  backend_.set_behavior(FakeBackend::Behavior::kAnswerTwice);
  ModelInferResponse response;
  EXPECT_TRUE(Infer(RawRequest({1, 2, 3}, 1), &response).ok());
  ExpectStillAnswers();
}

TEST_F(GrpcServerTest, HoldsManyCallsInFlightAndAnswersEachWhenTheBackendDoes) {
  Start();
  backend_.set_behavior(FakeBackend::Behavior::kHold);
  constexpr int kCalls = 16;
  std::vector<std::future<grpc::Status>> calls;
  std::vector<ModelInferResponse> responses(kCalls);
  for (int i = 0; i < kCalls; ++i) {
    calls.push_back(std::async(std::launch::async, [this, i, &responses] {
      return Infer(RawRequest({float(i), 0, 0}, 1), &responses[i]);
    }));
  }
  ASSERT_TRUE(backend_.WaitForHeld(kCalls, std::chrono::seconds(10)));
  // Every call is held by the backend; the server still answers others.
  inference::ServerLiveResponse live;
  EXPECT_TRUE(stub_->ServerLive(Context().get(), {}, &live).ok());
  backend_.Release();
  for (int i = 0; i < kCalls; ++i) {
    ASSERT_TRUE(calls[i].get().ok());
    EXPECT_EQ(RawFloats(responses[i].raw_output_contents(0))[0], 2.0f * i);
  }
}

TEST_F(GrpcServerTest, SynthesizesTritonModelConfig) {
  Start();
  inference::ModelConfigRequest request;
  request.set_name("doubler");
  inference::ModelConfigResponse response;
  ASSERT_TRUE(stub_->ModelConfig(Context().get(), request, &response).ok());
  const inference::ModelConfig& config = response.config();
  EXPECT_EQ(config.name(), "doubler");
  EXPECT_EQ(config.platform(), "pytorch_torchscript");
  EXPECT_EQ(config.max_batch_size(), 8);
  ASSERT_EQ(config.input_size(), 1);
  EXPECT_EQ(config.input(0).data_type(), inference::TYPE_FP32);
  EXPECT_EQ(std::vector<int64_t>(config.input(0).dims().begin(), config.input(0).dims().end()),
            (std::vector<int64_t>{3}))
      << "the batch dimension is left out, as Triton writes dims";
  ASSERT_TRUE(config.has_dynamic_batching());
  EXPECT_EQ(config.dynamic_batching().max_queue_delay_microseconds(), 500u);
  ASSERT_EQ(config.dynamic_batching().preferred_batch_size_size(), 1);
  ASSERT_EQ(config.instance_group_size(), 1);
  EXPECT_EQ(config.instance_group(0).count(), 2);
  EXPECT_EQ(config.instance_group(0).kind(), inference::ModelInstanceGroup::KIND_CPU);
  request.set_name("nope");
  EXPECT_EQ(stub_->ModelConfig(Context().get(), request, &response).error_code(), grpc::StatusCode::NOT_FOUND);
}

TEST_F(GrpcServerTest, ReportsStatisticsPerVersion) {
  Start();
  ExpectStillAnswers();
  ExpectStillAnswers();
  inference::ModelStatisticsRequest request;
  request.set_name("doubler");
  inference::ModelStatisticsResponse response;
  ASSERT_TRUE(stub_->ModelStatistics(Context().get(), request, &response).ok());
  ASSERT_EQ(response.model_stats_size(), 2);
  EXPECT_EQ(response.model_stats(1).version(), "2");
  EXPECT_EQ(response.model_stats(1).inference_stats().success().count(), 2u);
  EXPECT_EQ(response.model_stats(1).inference_stats().success().ns(), 2000u);
  EXPECT_EQ(response.model_stats(1).inference_stats().queue().ns(), 20u);
  request.set_version("1");
  ASSERT_TRUE(stub_->ModelStatistics(Context().get(), request, &response).ok());
  EXPECT_EQ(response.model_stats_size(), 1);
  request.set_name("nope");
  EXPECT_EQ(stub_->ModelStatistics(Context().get(), request, &response).error_code(), grpc::StatusCode::NOT_FOUND);
}

TEST_F(GrpcServerTest, RepositoryMethodsNeedTheAdminToken) {
  FakeRepository repository;
  GrpcServerOptions options;
  options.common.token = kToken;
  options.common.admin_token = kAdminToken;
  Start(options, &repository);
  inference::RepositoryIndexResponse index;
  EXPECT_EQ(stub_->RepositoryIndex(Context(kToken).get(), {}, &index).error_code(),
            grpc::StatusCode::UNAUTHENTICATED)
      << "the inference token does not open the repository";
  ASSERT_TRUE(stub_->RepositoryIndex(Context(kAdminToken).get(), {}, &index).ok());
  ASSERT_EQ(index.models_size(), 2);
  EXPECT_EQ(index.models(0).state(), "READY");

  inference::RepositoryModelLoadRequest load;
  load.set_model_name("doubler");
  inference::RepositoryModelLoadResponse loaded;
  EXPECT_TRUE(stub_->RepositoryModelLoad(Context(kAdminToken).get(), load, &loaded).ok());
  load.set_model_name("missing");
  EXPECT_EQ(stub_->RepositoryModelLoad(Context(kAdminToken).get(), load, &loaded).error_code(),
            grpc::StatusCode::NOT_FOUND);
  inference::RepositoryModelUnloadRequest unload;
  unload.set_model_name("doubler");
  inference::RepositoryModelUnloadResponse unloaded;
  EXPECT_TRUE(stub_->RepositoryModelUnload(Context(kAdminToken).get(), unload, &unloaded).ok());
  EXPECT_EQ(repository.loads.load(), 2);
  EXPECT_EQ(repository.unloads.load(), 1);
}

TEST_F(GrpcServerTest, RepositoryMethodsAreOffWithoutAnAdminToken) {
  FakeRepository repository;
  Start({}, &repository);
  inference::RepositoryIndexResponse index;
  const grpc::Status status = stub_->RepositoryIndex(Context().get(), {}, &index);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_NE(status.error_message().find("admin"), std::string::npos);
  EXPECT_EQ(repository.loads.load(), 0);
}

TEST_F(GrpcServerTest, UnimplementedMethodsSaySo) {
  Start();
  inference::SystemSharedMemoryStatusResponse shm;
  const grpc::Status status = stub_->SystemSharedMemoryStatus(Context().get(), {}, &shm);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNIMPLEMENTED);
  EXPECT_NE(status.error_message().find("shared memory"), std::string::npos) << status.error_message();
  auto ctx = Context();
  auto stream = stub_->ModelStreamInfer(ctx.get());
  inference::ModelStreamInferResponse streamed;
  EXPECT_FALSE(stream->Read(&streamed));
  const grpc::Status finished = stream->Finish();
  EXPECT_EQ(finished.error_code(), grpc::StatusCode::UNIMPLEMENTED);
  EXPECT_NE(finished.error_message().find("ModelInfer"), std::string::npos) << finished.error_message();
  ExpectStillAnswers();
}

TEST_F(GrpcServerTest, StopAnswersCallsInFlightThenRefusesNewOnes) {
  Start();
  backend_.set_behavior(FakeBackend::Behavior::kHold);
  ModelInferResponse response;
  auto call = std::async(std::launch::async, [&] { return Infer(RawRequest({1, 2, 3}, 1), &response); });
  ASSERT_TRUE(backend_.WaitForHeld(1, std::chrono::seconds(10)));
  std::thread stopper([this] { server_->Stop(); });
  backend_.Release();
  EXPECT_TRUE(call.get().ok());
  stopper.join();
  EXPECT_EQ(RawFloats(response.raw_output_contents(0)), (std::vector<float>{2, 4, 6}));
}

TEST_F(GrpcServerTest, CallsBeyondMaxConnectionsAreUnavailableUntilOneIsAnswered) {
  GrpcServerOptions options;
  options.common.max_connections = 2;  // over gRPC: calls in flight
  Start(options);
  backend_.set_behavior(FakeBackend::Behavior::kHold);
  std::vector<ModelInferResponse> responses(2);
  std::vector<std::future<grpc::Status>> held;
  for (int i = 0; i < 2; ++i) {
    held.push_back(std::async(std::launch::async, [this, i, &responses] {
      return Infer(RawRequest({float(i), 0, 0}, 1), &responses[i]);
    }));
  }
  ASSERT_TRUE(backend_.WaitForHeld(2, std::chrono::seconds(10)));
  ModelInferResponse refused;
  const grpc::Status third = Infer(RawRequest({1, 2, 3}, 1), &refused);
  EXPECT_EQ(third.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_NE(third.error_message().find("max_connections = 2"), std::string::npos) << third.error_message();
  backend_.Release();
  for (auto& call : held) EXPECT_TRUE(call.get().ok());
  ExpectStillAnswers();  // the slots were given back
}

TEST_F(GrpcServerTest, ModelInferCountsAgainstTheBudgetItSharesWithHttp) {
  FrontEndShared shared;
  shared.inflight = std::make_shared<InflightBudget>(std::size_t{1} << 20);
  Start({}, nullptr, shared);
  // HTTP holds the whole budget: gRPC must not add to it.
  ASSERT_TRUE(shared.inflight->Take(std::size_t{1} << 20));
  ModelInferResponse response;
  const grpc::Status refused = Infer(RawRequest({1, 2, 3}, 1), &response);
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_NE(refused.error_message().find("max_inflight_bytes = 1048576"), std::string::npos)
      << refused.error_message();
  shared.inflight->Give(std::size_t{1} << 20);

  // A held call holds twice its message; answered, it gives them back.
  backend_.set_behavior(FakeBackend::Behavior::kHold);
  const ModelInferRequest request = RawRequest({1, 2, 3}, 1);
  auto call = std::async(std::launch::async, [&] { return Infer(request, &response); });
  ASSERT_TRUE(backend_.WaitForHeld(1, std::chrono::seconds(10)));
  EXPECT_EQ(shared.inflight->held(), 2 * request.ByteSizeLong());
  backend_.Release();
  EXPECT_TRUE(call.get().ok());
  EXPECT_EQ(shared.inflight->held(), 0u) << "given back before the answer is sent";
}

TEST_F(GrpcServerTest, AuditsAuthFailuresRefusalsAndRepositoryActionsWithoutTokens) {
  namespace fs = std::filesystem;
  const fs::path dir = fs::path(::testing::TempDir()) / ("mlship_grpc_audit_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  FakeRepository repository;
  GrpcServerOptions options;
  options.common.token = kToken;
  options.common.admin_token = kAdminToken;
  options.common.audit_log = (dir / "audit.log").string();
  options.common.max_connections = 1;
  Start(options, &repository);

  ModelInferResponse response;
  EXPECT_EQ(Infer(RawRequest({1, 2, 3}, 1), &response, "wrong-token-0123456789abcdefghijklmn").error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  inference::RepositoryModelLoadRequest load;
  load.set_model_name("doubler");
  inference::RepositoryModelLoadResponse loaded;
  EXPECT_TRUE(stub_->RepositoryModelLoad(Context(kAdminToken).get(), load, &loaded).ok());
  backend_.set_behavior(FakeBackend::Behavior::kHold);
  auto held = std::async(std::launch::async, [&] { return Infer(RawRequest({1, 2, 3}, 1), &response, kToken); });
  ASSERT_TRUE(backend_.WaitForHeld(1, std::chrono::seconds(10)));
  ModelInferResponse refused;
  EXPECT_EQ(Infer(RawRequest({1, 2, 3}, 1), &refused, kToken).error_code(), grpc::StatusCode::UNAVAILABLE);
  backend_.Release();
  EXPECT_TRUE(held.get().ok());
  ExpectStillAnswers(kToken);  // an answered call is not audited
  server_->Stop();             // writes what is queued

  std::vector<boost::json::object> rows;
  std::ifstream in(dir / "audit.log");
  std::string text;
  for (std::string line; std::getline(in, line);) {
    text += line + "\n";
    rows.push_back(boost::json::parse(line).as_object());
  }
  ASSERT_EQ(rows.size(), 3u) << text;
  EXPECT_EQ(rows[0].at("action").as_string(), "auth.failed");
  EXPECT_EQ(rows[0].at("status").as_int64(), 401);
  EXPECT_EQ(rows[0].at("who").as_string(), "anonymous");
  EXPECT_EQ(rows[0].at("method").as_string(), "gRPC");
  EXPECT_EQ(rows[0].at("path").as_string(), "/inference.GRPCInferenceService/ModelInfer");
  EXPECT_EQ(rows[0].at("remote").as_string().subview().rfind("127.0.0.1:", 0), 0u) << text;
  EXPECT_EQ(rows[1].at("action").as_string(), "repository.load");
  EXPECT_EQ(rows[1].at("status").as_int64(), 200);
  EXPECT_EQ(rows[1].at("who").as_string(), "admin_token");
  EXPECT_EQ(rows[2].at("action").as_string(), "refused");
  EXPECT_EQ(rows[2].at("status").as_int64(), 503);
  EXPECT_EQ(rows[2].at("who").as_string(), "token");
  EXPECT_EQ(text.find(kToken), std::string::npos);
  EXPECT_EQ(text.find(kAdminToken), std::string::npos);
  EXPECT_EQ(text.find("wrong-token"), std::string::npos);
  fs::remove_all(dir);
}

TEST(GrpcServerOptionsTest, RefusesAPublicAddressWithoutAToken) {
  FakeBackend backend;
  GrpcServerOptions options;
  options.common.host = "0.0.0.0";
  options.port = 0;
  const auto created = GrpcServer::Create(options, &backend);
  ASSERT_FALSE(created.ok());
  EXPECT_EQ(created.status().code(), StatusCode::kInvalidArgument);
}

TEST(GrpcServerOptionsTest, ReportsAPortInUse) {
  FakeBackend backend;
  GrpcServerOptions options;
  options.common.host = "127.0.0.1";
  options.port = 0;
  auto first = GrpcServer::Create(options, &backend);
  ASSERT_TRUE(first.ok());
  options.port = (*first)->port();
  const auto second = GrpcServer::Create(options, &backend);
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), StatusCode::kUnavailable);
}

}  // namespace
}  // namespace mlship::serving::testing
