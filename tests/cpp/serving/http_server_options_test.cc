#include <gtest/gtest.h>

#include "mlship/serving/http_server.h"
#include "text_assertions.h"

namespace mlship::serving {
namespace {

using ::mlship::serving::testing::Contains;
using ::mlship::serving::testing::Lacks;


TEST(HttpServerOptionsTest, DefaultsAreValidAndLoopbackOnly) {
  const HttpServerOptions options;
  EXPECT_EQ(options.host, "127.0.0.1");
  EXPECT_EQ(options.port, 8000);
  EXPECT_EQ(options.io_threads, 2);
  EXPECT_TRUE(options.token.empty());
  EXPECT_FALSE(options.allow_insecure_public_bind);
  EXPECT_EQ(options.max_body_bytes, 64u << 20);
  EXPECT_EQ(options.max_header_bytes, 16u << 10);
  EXPECT_EQ(options.max_connections, 1024u);
  EXPECT_EQ(options.codec.max_json_depth, 64u);
  EXPECT_EQ(options.codec.max_elements_per_tensor, int64_t{64} << 20);
  EXPECT_TRUE(ValidateHttpServerOptions(options).ok());
}

TEST(HttpServerOptionsTest, RefusesPublicBindWithoutATokenUnlessAskedByName) {
  for (const char* host : {"0.0.0.0", "::", "10.1.2.3"}) {
    HttpServerOptions options;
    options.host = host;
    const Status status = ValidateHttpServerOptions(options);
    EXPECT_EQ(status.code(), StatusCode::kInvalidArgument) << host;
    EXPECT_TRUE(Contains(status.message(), std::string("binding ") + host + " without a token"));
    EXPECT_TRUE(Contains(status.message(), "set a token, or ask for insecure mode by name"));

    options.token = "a-long-random-token";
    EXPECT_TRUE(ValidateHttpServerOptions(options).ok()) << host;
    options.token.clear();
    options.allow_insecure_public_bind = true;
    EXPECT_TRUE(ValidateHttpServerOptions(options).ok()) << host;
  }
  for (const char* loopback : {"127.0.0.1", "::1", "localhost"}) {
    HttpServerOptions options;
    options.host = loopback;
    EXPECT_TRUE(ValidateHttpServerOptions(options).ok()) << loopback;
  }
}

TEST(HttpServerOptionsTest, CreateRefusesPublicBindWithoutToken) {
  HttpServerOptions options;
  options.host = "0.0.0.0";
  options.port = 0;
  class NoModels : public Backend {
   public:
    std::vector<ModelInfo> Models() const override { return {}; }
    StatusOr<ModelInfo> Find(std::string_view, std::string_view) const override { return Status::NotFound("none"); }
    void Infer(InferRequest, InferCallback done) override { done(Status::Unavailable("none")); }
  } backend;
  auto server = HttpServer::Create(options, &backend);
  ASSERT_FALSE(server.ok());
  EXPECT_TRUE(Contains(server.status().message(), "binding 0.0.0.0 without a token"));
  EXPECT_FALSE(HttpServer::Create(HttpServerOptions{}, nullptr).ok());
}

TEST(HttpServerOptionsTest, SaysWhatIsWrongWithTheValue) {
  auto message = [](auto mutate) {
    HttpServerOptions options;
    mutate(options);
    return ValidateHttpServerOptions(options).message();
  };
  EXPECT_EQ(message([](HttpServerOptions& o) { o.io_threads = 0; }), "io_threads must be in 1..256; was 0");
  EXPECT_TRUE(Contains(message([](HttpServerOptions& o) { o.host = "example.com"; }),
              "host must be an IP address such as 127.0.0.1, ::1 or 0.0.0.0; was 'example.com'"));
  EXPECT_EQ(message([](HttpServerOptions& o) { o.max_body_bytes = 0; }), "max_body_bytes must be positive; was 0");
  EXPECT_TRUE(Contains(message([](HttpServerOptions& o) { o.max_header_bytes = 10; }), "was 10"));
  EXPECT_EQ(message([](HttpServerOptions& o) { o.max_connections = 0; }), "max_connections must be positive; was 0");
  EXPECT_TRUE(Contains(message([](HttpServerOptions& o) { o.idle_timeout = std::chrono::milliseconds(0); }),
              "idle_timeout must be positive"));
  EXPECT_TRUE(Contains(message([](HttpServerOptions& o) { o.codec.max_json_depth = 2; }),
              "codec.max_json_depth must be in 4..1024; was 2"));
  EXPECT_TRUE(Contains(message([](HttpServerOptions& o) { o.token = "has space"; }), "printable ASCII without spaces"));
  EXPECT_TRUE(Contains(message([](HttpServerOptions& o) { o.request_timeout = std::chrono::milliseconds(-1); }),
              "request_timeout must not be negative"));
}

}  // namespace
}  // namespace mlship::serving
