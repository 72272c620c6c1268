// Creating, starting and stopping the server: ports, double starts, and the
// drain that lets requests in flight finish.
#include <gtest/gtest.h>

#include <future>

#include "server_fixture.h"

namespace mlship::serving::testing {
namespace {

namespace beast = boost::beast;

class HttpServerLifecycleTest : public ServerTest {};

TEST_F(HttpServerLifecycleTest, PortZeroPicksAFreePort) {
  StartServer();
  EXPECT_NE(port_, 0);
  FakeBackend other_backend;
  HttpServerOptions options;
  options.port = 0;
  auto other = HttpServer::Create(options, &other_backend);
  ASSERT_TRUE(other.ok());
  EXPECT_NE((*other)->port(), port_);
}

TEST_F(HttpServerLifecycleTest, ABusyPortIsReportedByCreate) {
  StartServer();
  HttpServerOptions options;
  options.port = port_;
  auto second = HttpServer::Create(options, &backend_);
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_TRUE(Contains(second.status().message(), "cannot listen on 127.0.0.1:" + std::to_string(port_)));
}

TEST_F(HttpServerLifecycleTest, StartsOnceAndStopsIdempotently) {
  StartServer();
  EXPECT_EQ(server_->Start().code(), StatusCode::kFailedPrecondition);
  server_->Stop();
  server_->Stop();
  EXPECT_EQ(server_->Start().code(), StatusCode::kFailedPrecondition);
  TestClient late(port_, std::chrono::milliseconds(2000));
  EXPECT_FALSE(late.connected());  // the port is closed
}

TEST_F(HttpServerLifecycleTest, AServerNeverStartedStopsCleanly) {
  HttpServerOptions options;
  options.port = 0;
  auto server = HttpServer::Create(options, &backend_);
  ASSERT_TRUE(server.ok());
  (*server)->Stop();
  server->reset();
  SUCCEED();
}

TEST_F(HttpServerLifecycleTest, StopClosesIdleKeepAliveConnectionsPromptly) {
  StartServer();
  auto client = Connect();
  ASSERT_EQ(client->Get("/v2/health/live").result_int(), 200);
  const auto start = std::chrono::steady_clock::now();
  server_->Stop();
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));  // not the 60 s idle timeout
  EXPECT_EQ(client->WaitForClose(), boost::asio::error::eof);
}

TEST_F(HttpServerLifecycleTest, AHalfSentBodyGets503AndDoesNotHoldTheStop) {
  // Drain and idle timeouts far longer than any test: before the fix, Stop()
  // waited for the body until drain_timeout and the client got no answer,
  // so this test could only finish by failing on its client's timeout.
  HttpServerOptions options;
  options.drain_timeout = std::chrono::minutes(10);
  options.idle_timeout = std::chrono::minutes(10);
  StartServer(options);
  auto client = Connect();
  // 100-continue tells us the server has read the header and waits for the body.
  Response interim;
  ASSERT_FALSE(client->SendRaw("POST /v2/models/doubler/infer HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                               "Content-Type: application/json\r\nContent-Length: 1000\r\n"
                               "Expect: 100-continue\r\n\r\n",
                               interim));
  ASSERT_EQ(interim.result_int(), 100);
  auto stopping = std::async(std::launch::async, [this] { server_->Stop(); });
  Response response;
  ASSERT_FALSE(client->SendRaw("{\"inputs\": [", response));  // a tenth of the body, then nothing
  EXPECT_EQ(response.result_int(), 503);
  EXPECT_TRUE(Contains(ErrorMessage(response), "shutting down"));
  EXPECT_EQ(stopping.wait_for(std::chrono::seconds(60)), std::future_status::ready);
  EXPECT_EQ(backend_.infer_calls(), 0);
}

TEST_F(HttpServerLifecycleTest, StopLetsRequestsInFlightFinish) {
  StartServer();
  backend_.set_behavior(FakeBackend::Behavior::kHold);
  auto in_flight = std::async(std::launch::async, [this] {
    TestClient client(port_);
    return client.Post("/v2/models/doubler/infer", DoublerRequest({1, 2, 3}));
  });
  ASSERT_TRUE(backend_.WaitForHeld(1, std::chrono::seconds(10)));
  auto stopping = std::async(std::launch::async, [this] { server_->Stop(); });
  // Stop waits for the held request...
  EXPECT_EQ(stopping.wait_for(std::chrono::milliseconds(300)), std::future_status::timeout);
  // ...which is answered in full once the Backend replies.
  backend_.Release();
  ASSERT_EQ(in_flight.wait_for(std::chrono::seconds(10)), std::future_status::ready);
  Response response = in_flight.get();
  EXPECT_EQ(response.result_int(), 200);
  EXPECT_TRUE(Contains(response.body(), "\"data\":[2,4,6]"));
  EXPECT_FALSE(response.keep_alive());  // draining: the connection closes after it
  ASSERT_EQ(stopping.wait_for(std::chrono::seconds(10)), std::future_status::ready);
}

TEST_F(HttpServerLifecycleTest, StopGivesUpOnRequestsAfterTheDrainTimeoutAndLateAnswersAreSafe) {
  HttpServerOptions options;
  options.drain_timeout = std::chrono::milliseconds(200);
  StartServer(options);
  backend_.set_behavior(FakeBackend::Behavior::kHold);
  auto in_flight = std::async(std::launch::async, [this] {
    TestClient client(port_, std::chrono::milliseconds(3000));
    Response response;
    return client.Send(MakeRequest(http::verb::post, "/v2/models/doubler/infer", DoublerRequest({1, 2, 3})), response);
  });
  ASSERT_TRUE(backend_.WaitForHeld(1, std::chrono::seconds(10)));
  const auto start = std::chrono::steady_clock::now();
  server_.reset();  // Stop() and destroy while the Backend still holds the request
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
  // The Backend answers after the server is gone: nothing may crash, and the
  // client's connection is closed once the answer is dropped.
  backend_.Release();
  ASSERT_EQ(in_flight.wait_for(std::chrono::seconds(10)), std::future_status::ready);
  EXPECT_TRUE(in_flight.get());  // no response came
}

}  // namespace
}  // namespace mlship::serving::testing
