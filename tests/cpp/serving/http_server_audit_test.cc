// The audit log over real connections: control actions, authentication
// failures and refused requests are written; tokens and bodies never are.
#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <mutex>
#include <string>
#include <vector>

#include <boost/json.hpp>

#include "server_fixture.h"

namespace mlship::serving::testing {
namespace {

namespace fs = std::filesystem;
namespace json = boost::json;

constexpr const char* kToken = "infer-TOKEN-7f3a9c21d4e8b6051a2f";
constexpr const char* kAdminToken = "admin-TOKEN-c0ffee5ecre7d00d1234";
// Bytes that must never reach the log, in bodies and headers.
constexpr const char* kBodySecret = "BODY-SECRET-5150";

// A repository holding one model, "doubler", that loads and unloads at once.
class FakeRepository : public RepositoryControl {
 public:
  std::vector<RepositoryIndexEntry> RepositoryIndex(bool) const override {
    return {{"doubler", "2", "READY", ""}};
  }
  void LoadModel(std::string name, std::function<void(Status)> done) override {
    done(name == "doubler" ? Status::Ok() : Status::NotFound("the repository has no model '" + name + "'"));
  }
  void UnloadModel(std::string name, std::function<void(Status)> done) override {
    done(name == "doubler" ? Status::Ok() : Status::NotFound("model '" + name + "' is not served here"));
  }
};

class HttpServerAuditTest : public ServerTest {
 protected:
  void SetUp() override {
    dir_ = fs::path(::testing::TempDir()) /
           ("mlship_http_audit_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    path_ = dir_ / "audit.log";
  }
  void TearDown() override {
    if (server_) server_->Stop();
    fs::remove_all(dir_);
  }

  HttpServerOptions Options() const {
    HttpServerOptions options;
    options.token = kToken;
    options.admin_token = kAdminToken;
    options.audit_log = path_.string();
    options.wall_clock = [] { return std::chrono::system_clock::time_point(std::chrono::hours(24 * 365 * 57)); };
    return options;
  }

  // Stops the server (which writes everything queued) and parses the log.
  std::vector<json::object> StopAndReadLog() {
    server_->Stop();
    std::vector<json::object> rows;
    std::ifstream in(path_);
    for (std::string line; std::getline(in, line);) {
      boost::system::error_code ec;
      json::value v = json::parse(line, ec);
      EXPECT_FALSE(ec) << "not JSON: " << line;
      EXPECT_TRUE(v.is_object()) << line;
      if (v.is_object()) rows.push_back(v.get_object());
    }
    return rows;
  }

  std::string LogText() const {
    std::ifstream in(path_);
    return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }

  static Headers Bearer(const std::string& token) { return {{"Authorization", "Bearer " + token}}; }

  // The rows with `action`.
  static std::vector<json::object> WithAction(const std::vector<json::object>& rows, const std::string& action) {
    std::vector<json::object> out;
    for (const json::object& row : rows) {
      if (row.at("action").as_string() == action) out.push_back(row);
    }
    return out;
  }

  FakeRepository repository_;
  fs::path dir_;
  fs::path path_;
};

TEST_F(HttpServerAuditTest, LoadsUnloadsAndTheIndexAreAuditedWithWhoAndResult) {
  StartServer(Options(), &repository_);
  auto client = Connect();
  const std::string body = std::string("{\"parameters\": {\"note\": \"") + kBodySecret + "\"}}";
  EXPECT_EQ(client->Post("/v2/repository/models/doubler/load", body, Bearer(kAdminToken)).result_int(), 200);
  EXPECT_EQ(client->Post("/v2/repository/models/doubler/unload", "", Bearer(kAdminToken)).result_int(), 200);
  EXPECT_EQ(client->Post("/v2/repository/models/ghost/load", "", Bearer(kAdminToken)).result_int(), 404);
  EXPECT_EQ(client->Post("/v2/repository/index", "{}", Bearer(kAdminToken)).result_int(), 200);
  // Rollouts are control actions too (this repository has none: 409).
  EXPECT_EQ(client->Post("/v2/repository/models/doubler/rollout/pause", "", Bearer(kAdminToken)).result_int(), 409);

  const std::vector<json::object> rows = StopAndReadLog();
  const std::vector<json::object> loads = WithAction(rows, "repository.load");
  ASSERT_EQ(loads.size(), 2u) << LogText();
  EXPECT_EQ(loads[0].at("who"), "admin_token");
  EXPECT_EQ(loads[0].at("method"), "POST");
  EXPECT_EQ(loads[0].at("path"), "/v2/repository/models/doubler/load");
  EXPECT_EQ(loads[0].at("status"), 200);
  EXPECT_EQ(loads[0].at("detail"), "ok");
  EXPECT_EQ(loads[0].at("time"), "2026-12-18T00:00:00.000Z");  // the injected clock: 57 x 365 days after 1970
  EXPECT_EQ(std::string(loads[0].at("remote").as_string()).rfind("127.0.0.1:", 0), 0u);
  EXPECT_EQ(loads[1].at("status"), 404);
  EXPECT_EQ(loads[1].at("detail"), "the repository has no model 'ghost'");
  const std::vector<json::object> unloads = WithAction(rows, "repository.unload");
  ASSERT_EQ(unloads.size(), 1u);
  EXPECT_EQ(unloads[0].at("status"), 200);
  EXPECT_EQ(WithAction(rows, "repository.index").size(), 1u);
  const std::vector<json::object> pauses = WithAction(rows, "rollout.pause");
  ASSERT_EQ(pauses.size(), 1u);
  EXPECT_EQ(pauses[0].at("status"), 409);
  EXPECT_EQ(rows.size(), 5u) << LogText();
  const std::string text = LogText();
  EXPECT_TRUE(Lacks(text, kBodySecret));
  EXPECT_TRUE(Lacks(text, kAdminToken));
}

TEST_F(HttpServerAuditTest, AuthFailuresAreAuditedWithoutTheTokenSent) {
  StartServer(Options(), &repository_);
  const std::string guessed = "guessed-TOKEN-a1b2c3d4e5f6";
  EXPECT_EQ(Connect()->Get("/v2", Bearer(guessed)).result_int(), 401);
  EXPECT_EQ(Connect()->Get("/v2/models/doubler").result_int(), 401);
  // The inference token does not open the repository endpoints.
  EXPECT_EQ(Connect()->Post("/v2/repository/models/doubler/load", "", Bearer(kToken)).result_int(), 401);
  // A page from another site (the browser guard).
  EXPECT_EQ(Connect()->Get("/v2", {{"Authorization", std::string("Bearer ") + kToken},
                                   {"Origin", "https://evil.example"}})
                .result_int(),
            403);
  // Health probes and good requests are not audit events.
  EXPECT_EQ(Connect()->Get("/v2/health/ready").result_int(), 200);
  EXPECT_EQ(Connect()->Post("/v2/models/doubler/infer", DoublerRequest({1, 2, 3}), Bearer(kToken)).result_int(), 200);

  const std::vector<json::object> rows = StopAndReadLog();
  const std::vector<json::object> failures = WithAction(rows, "auth.failed");
  ASSERT_EQ(failures.size(), 4u) << LogText();
  EXPECT_EQ(failures[0].at("who"), "anonymous");
  EXPECT_EQ(failures[0].at("status"), 401);
  EXPECT_EQ(failures[0].at("path"), "/v2");
  EXPECT_EQ(failures[0].at("detail"), "the bearer token is not valid for this server");
  EXPECT_EQ(failures[1].at("who"), "anonymous");
  EXPECT_EQ(failures[2].at("who"), "token");
  EXPECT_EQ(failures[2].at("path"), "/v2/repository/models/doubler/load");
  EXPECT_EQ(failures[3].at("status"), 403);
  EXPECT_EQ(failures[3].at("who"), "token");
  EXPECT_EQ(rows.size(), 4u) << "only the failures: " << LogText();
  const std::string text = LogText();
  EXPECT_TRUE(Lacks(text, guessed));
  EXPECT_TRUE(Lacks(text, kToken));
}

TEST_F(HttpServerAuditTest, RefusedRequestsAreAuditedWithoutTheirBodiesOrHeaders) {
  HttpServerOptions options = Options();
  options.max_body_bytes = 1024;
  options.max_header_bytes = 2048;
  StartServer(options);
  Response response;
  // 413: a body over the limit, made of bytes that must not be logged.
  std::string big;
  while (big.size() < 4096) big += kBodySecret;
  ASSERT_FALSE(Connect()->Send(
      MakeRequest(http::verb::post, "/v2/models/doubler/infer", big,
                  {{"Authorization", std::string("Bearer ") + kToken}, {"Cookie", "session=COOKIE-SECRET"}}),
      response));
  EXPECT_EQ(response.result_int(), 413);
  // 431: headers over the limit.
  std::string header_secret;
  while (header_secret.size() < 4096) header_secret += "HEADER-SECRET-";
  ASSERT_FALSE(Connect()->Send(MakeRequest(http::verb::get, "/v2", "", {{"X-Big", header_secret}}), response));
  EXPECT_EQ(response.result_int(), 431);
  // 400: not HTTP at all.
  ASSERT_FALSE(Connect()->SendRaw("GET /v2 HTTP/1.1\r\nHost: localhost\r\nBad Header\r\n\r\n", response));
  EXPECT_EQ(response.result_int(), 400);

  const std::vector<json::object> rows = StopAndReadLog();
  const std::vector<json::object> refused = WithAction(rows, "refused");
  ASSERT_EQ(refused.size(), 3u) << LogText();
  EXPECT_EQ(refused[0].at("status"), 413);
  EXPECT_EQ(refused[0].at("path"), "/v2/models/doubler/infer");
  EXPECT_EQ(refused[0].at("who"), "token");
  EXPECT_EQ(refused[0].at("detail"), "the request body is larger than this server's limit of 1024 bytes");
  EXPECT_EQ(refused[1].at("status"), 431);
  EXPECT_EQ(refused[2].at("status"), 400);
  EXPECT_TRUE(Contains(std::string(refused[2].at("detail").as_string()), "malformed HTTP request"));
  const std::string text = LogText();
  EXPECT_TRUE(Lacks(text, kBodySecret));
  EXPECT_TRUE(Lacks(text, "HEADER-SECRET"));
  EXPECT_TRUE(Lacks(text, "COOKIE-SECRET"));
  EXPECT_TRUE(Lacks(text, kToken));
}

TEST_F(HttpServerAuditTest, ConnectionsOverTheLimitAreAuditedAsRefused) {
  HttpServerOptions options = Options();
  options.max_connections = 1;
  StartServer(options);
  auto first = Connect();
  EXPECT_EQ(first->Get("/v2/health/live").result_int(), 200);  // holds the one slot
  {
    Response response;
    TestClient second(port_);
    ASSERT_FALSE(second.Read(response));
    EXPECT_EQ(response.result_int(), 503);
  }
  first.reset();
  const std::vector<json::object> refused = WithAction(StopAndReadLog(), "refused");
  ASSERT_EQ(refused.size(), 1u) << LogText();
  EXPECT_EQ(refused[0].at("status"), 503);
  EXPECT_TRUE(Contains(std::string(refused[0].at("detail").as_string()), "open connections"));
}

TEST_F(HttpServerAuditTest, AnAuditLogThatCannotBeOpenedFailsCreateNamingThePath) {
  HttpServerOptions options = Options();
  options.port = 0;
  options.audit_log = (dir_ / "missing" / "audit.log").string();
  auto created = HttpServer::Create(options, &backend_);
  ASSERT_FALSE(created.ok());
  EXPECT_TRUE(Contains(created.status().message(), options.audit_log));
}

TEST_F(HttpServerAuditTest, AuditOptionsAreValidated) {
  HttpServerOptions options = Options();
  options.audit_log_max_bytes = 100;
  EXPECT_TRUE(Contains(ValidateHttpServerOptions(options).message(), "audit_log_max_bytes must be at least 1024"));
  options = Options();
  options.audit_log_keep = 101;
  EXPECT_TRUE(Contains(ValidateHttpServerOptions(options).message(), "audit_log_keep must be in 0..100; was 101"));
}

TEST_F(HttpServerAuditTest, WithoutAPathNothingIsWritten) {
  HttpServerOptions options = Options();
  options.audit_log.clear();
  StartServer(options);
  EXPECT_EQ(Connect()->Get("/v2").result_int(), 401);
  server_->Stop();
  EXPECT_FALSE(fs::exists(path_));
}

}  // namespace
}  // namespace mlship::serving::testing
