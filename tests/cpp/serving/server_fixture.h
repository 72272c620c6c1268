// A test fixture that runs an HttpServer on 127.0.0.1 (a free port) in front
// of a FakeBackend.
#pragma once

#include <gtest/gtest.h>

#include <memory>

#include "fake_backend.h"
#include "http_test_client.h"
#include "text_assertions.h"
#include "mlship/serving/http_server.h"

namespace mlship::serving::testing {

class ServerTest : public ::testing::Test {
 protected:
  // Creates and starts the server with `options`, forcing 127.0.0.1 and a
  // free port. `repository` (may be null) answers the repository endpoints.
  void StartServer(HttpServerOptions options = {}, RepositoryControl* repository = nullptr) {
    options.host = "127.0.0.1";
    options.port = 0;
    auto created = HttpServer::Create(options, &backend_, repository);
    ASSERT_TRUE(created.ok()) << created.status().ToString();
    server_ = std::move(*created);
    ASSERT_TRUE(server_->Start().ok());
    port_ = server_->port();
  }

  // A fresh keep-alive connection to the server.
  std::unique_ptr<TestClient> Connect() {
    auto client = std::make_unique<TestClient>(port_);
    EXPECT_TRUE(client->connected());
    return client;
  }

  // Asserts the server still answers a good inference on a new connection.
  void ExpectServerStillAnswers() {
    Response response = Connect()->Post("/v2/models/doubler/infer", DoublerRequest({1, 2, 3}));
    EXPECT_EQ(response.result_int(), 200) << response.body();
  }

  // Declared before server_ so the server stops first.
  FakeBackend backend_;
  std::unique_ptr<HttpServer> server_;
  uint16_t port_ = 0;
};

}  // namespace mlship::serving::testing
