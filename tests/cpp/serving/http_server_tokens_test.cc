// Scoped tokens from a hashed-token file, per-token rate limits, reloads and
// the dashboard login, over real connections on a fake clock.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <unistd.h>

#include "mlship/clock.h"
#include "mlship/serving/repository_control.h"
#include "server_fixture.h"
#include "token_file.h"

namespace mlship::serving::testing {
namespace {

using internal::Sha256;

constexpr const char* kInferToken = "infer-only-0123456789abcdefghijklmnopqrstuv";
constexpr const char* kReadToken = "read-only-0123456789abcdefghijklmnopqrstuvw";
constexpr const char* kAdminToken = "admin-0123456789abcdefghijklmnopqrstuvwxyz01";
constexpr const char* kLimitedToken = "limited-0123456789abcdefghijklmnopqrstuvwxy";
constexpr const char* kServerToken = "server-token-0123456789abcdefghijklmnopqrst";

std::string Hex(const std::string& token) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string hex;
  for (unsigned char b : Sha256(token)) {
    hex += kDigits[b >> 4];
    hex += kDigits[b & 15];
  }
  return hex;
}

std::string Entry(const std::string& name, const std::string& token, const std::string& scopes,
                  const std::string& extra = "") {
  return R"({"name": ")" + name + R"(", "sha256": ")" + Hex(token) + R"(", "scopes": [)" + scopes + "]" + extra +
         "}\n";
}

// A repository side that answers every call at once.
class FakeRepository : public RepositoryControl {
 public:
  std::vector<RepositoryIndexEntry> RepositoryIndex(bool) const override { return {}; }
  void LoadModel(std::string, std::function<void(Status)> done) override {
    ++loads;
    done(Status::Ok());
  }
  void UnloadModel(std::string, std::function<void(Status)> done) override { done(Status::Ok()); }
  std::atomic<int> loads{0};
};

Headers Bearer(const std::string& token) { return {{"Authorization", "Bearer " + token}}; }

class HttpServerTokensTest : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = (std::filesystem::temp_directory_path() /
             ("mlship_tokens_" + std::to_string(::getpid()) + "_" +
              ::testing::UnitTest::GetInstance()->current_test_info()->name() + ".jsonl"))
                .string();
    WriteFile(Entry("inferer", kInferToken, R"("infer")") + Entry("reader", kReadToken, R"("read")") +
              Entry("ops", kAdminToken, R"("admin")") +
              Entry("limited", kLimitedToken, R"("infer", "read")", R"(, "rate_per_s": 1, "burst": 2)"));
  }
  void TearDown() override {
    server_.reset();
    std::remove(path_.c_str());
  }
  void WriteFile(const std::string& text) {
    std::ofstream out(path_, std::ios::trunc);
    out << text;
  }
  void Start(HttpServerOptions options = {}) {
    options.host = "127.0.0.1";
    options.port = 0;
    options.token_file = path_;
    options.clock = &clock_;
    auto created = HttpServer::Create(options, &backend_, &repository_);
    ASSERT_TRUE(created.ok()) << created.status().ToString();
    server_ = std::move(*created);
    ASSERT_TRUE(server_->AddGetRoute("/metrics", [] { return StatusOr<HttpContent>(HttpContent{"up 1\n"}); }).ok());
    ASSERT_TRUE(server_->AddGetRoute("/dashboard", [] {
                         return StatusOr<HttpContent>(HttpContent{"<p>board</p>", "text/html; charset=utf-8"});
                       }).ok());
    ASSERT_TRUE(server_->Start().ok());
  }
  std::unique_ptr<TestClient> Connect() {
    auto client = std::make_unique<TestClient>(server_->port());
    EXPECT_TRUE(client->connected());
    return client;
  }
  int Infer(const Headers& headers) {
    return Connect()->Post("/v2/models/doubler/infer", DoublerRequest({1, 2, 3}), headers).result_int();
  }
  int Load(const Headers& headers) {
    return Connect()->Post("/v2/repository/models/doubler/load", "{}", headers).result_int();
  }
  // POST /dashboard/login with `token`; the response.
  Response Login(const std::string& token) {
    return Connect()->Post("/dashboard/login", "token=" + token,
                           {{"Content-Type", "application/x-www-form-urlencoded"}});
  }
  // "mlship_session=<id>" of a Set-Cookie header.
  static std::string CookieOf(const Response& response) {
    const std::string set_cookie(response[http::field::set_cookie]);
    return set_cookie.substr(0, set_cookie.find(';'));
  }

  FakeClock clock_;
  FakeBackend backend_;
  FakeRepository repository_;
  std::string path_;
  std::unique_ptr<HttpServer> server_;
};

TEST_F(HttpServerTokensTest, EachScopeOpensItsRoutesAndOnlyThose) {
  Start();
  // infer: inference only.
  EXPECT_EQ(Infer(Bearer(kInferToken)), 200);
  Response metrics = Connect()->Get("/metrics", Bearer(kInferToken));
  EXPECT_EQ(metrics.result_int(), 403);
  EXPECT_TRUE(Contains(ErrorMessage(metrics), "needs a token with the 'read' scope")) << metrics.body();
  EXPECT_TRUE(Contains(ErrorMessage(metrics), "'inferer' has: infer")) << metrics.body();
  EXPECT_TRUE(Lacks(metrics.body(), kInferToken));
  Response load = Connect()->Post("/v2/repository/models/doubler/load", "{}", Bearer(kInferToken));
  EXPECT_EQ(load.result_int(), 403);
  EXPECT_TRUE(Contains(ErrorMessage(load), "'admin' scope")) << load.body();
  EXPECT_EQ(Connect()->Get("/v2/models/doubler", Bearer(kInferToken)).result_int(), 403);
  // read: metadata, readiness, /metrics, the dashboard; no inference.
  for (const char* target : {"/v2", "/v2/models/doubler", "/v2/models/doubler/ready", "/metrics", "/dashboard"}) {
    EXPECT_EQ(Connect()->Get(target, Bearer(kReadToken)).result_int(), 200) << target;
  }
  Response infer = Connect()->Post("/v2/models/doubler/infer", DoublerRequest({1, 2, 3}), Bearer(kReadToken));
  EXPECT_EQ(infer.result_int(), 403);
  EXPECT_TRUE(Contains(ErrorMessage(infer), "'infer' scope")) << infer.body();
  EXPECT_EQ(Load(Bearer(kReadToken)), 403);
  // admin: the repository endpoints, nothing else.
  EXPECT_EQ(Load(Bearer(kAdminToken)), 200);
  EXPECT_EQ(repository_.loads.load(), 1);
  EXPECT_EQ(Infer(Bearer(kAdminToken)), 403);
  EXPECT_EQ(Connect()->Get("/metrics", Bearer(kAdminToken)).result_int(), 403);
  // The health probes need nothing.
  EXPECT_EQ(Connect()->Get("/v2/health/live").result_int(), 200);
  EXPECT_EQ(Connect()->Get("/v2/health/ready").result_int(), 200);
  // The server reports its repository endpoints as on (an admin token exists).
  EXPECT_TRUE(Contains(Connect()->Get("/v2", Bearer(kReadToken)).body(), "model_repository"));
}

TEST_F(HttpServerTokensTest, UnknownOrMissingTokensAre401) {
  Start();
  Response unknown = Connect()->Get("/metrics", Bearer("not-a-token-in-the-file-0123456789abcdef"));
  EXPECT_EQ(unknown.result_int(), 401);
  EXPECT_EQ(unknown[http::field::www_authenticate], "Bearer");
  EXPECT_EQ(ErrorMessage(unknown), "the bearer token is not valid for this server");
  EXPECT_TRUE(Lacks(unknown.body(), "not-a-token"));
  EXPECT_EQ(Infer({}), 401);
  EXPECT_EQ(Load({}), 401);
  EXPECT_EQ(Load(Bearer("wrong")), 401);
  EXPECT_EQ(backend_.infer_calls(), 0);
}

TEST_F(HttpServerTokensTest, TheServerTokenKeepsItsMeaningBesideTheFile) {
  HttpServerOptions options;
  options.token = kServerToken;
  Start(options);
  EXPECT_EQ(Infer(Bearer(kServerToken)), 200);
  EXPECT_EQ(Connect()->Get("/metrics", Bearer(kServerToken)).result_int(), 200);
  // As before scoped tokens: the server token is simply not the admin token.
  EXPECT_EQ(Load(Bearer(kServerToken)), 401);
  EXPECT_EQ(Infer(Bearer(kInferToken)), 200);
}

TEST_F(HttpServerTokensTest, ATokenOverItsRateGets429UntilTheBucketRefills) {
  Start();
  // burst 2: two pass at once, the third waits for the 1/s refill.
  EXPECT_EQ(Infer(Bearer(kLimitedToken)), 200);
  EXPECT_EQ(Connect()->Get("/v2", Bearer(kLimitedToken)).result_int(), 200);
  Response limited = Connect()->Post("/v2/models/doubler/infer", DoublerRequest({1, 2, 3}), Bearer(kLimitedToken));
  EXPECT_EQ(limited.result_int(), 429);
  EXPECT_EQ(limited[http::field::retry_after], "1");
  EXPECT_TRUE(Contains(ErrorMessage(limited), "'limited' is over its rate limit of 1 requests/s (burst 2)"))
      << limited.body();
  EXPECT_EQ(backend_.infer_calls(), 1);
  // Refused before the Backend saw it, and counted as such.
  bool counted = false;
  for (const auto& refusal : backend_.refusals()) counted |= refusal.http_status == 429 && refusal.reason == "rate_limited";
  EXPECT_TRUE(counted);
  // Other tokens have their own buckets.
  EXPECT_EQ(Infer(Bearer(kInferToken)), 200);
  clock_.Advance(std::chrono::milliseconds(500));
  EXPECT_EQ(Infer(Bearer(kLimitedToken)), 429);
  clock_.Advance(std::chrono::milliseconds(500));
  EXPECT_EQ(Infer(Bearer(kLimitedToken)), 200);
  EXPECT_EQ(Infer(Bearer(kLimitedToken)), 429);
  // A long pause refills only up to the burst.
  clock_.Advance(std::chrono::hours(1));
  EXPECT_EQ(Infer(Bearer(kLimitedToken)), 200);
  EXPECT_EQ(Infer(Bearer(kLimitedToken)), 200);
  Response again = Connect()->Get("/v2", Bearer(kLimitedToken));
  EXPECT_EQ(again.result_int(), 429);
  EXPECT_EQ(again[http::field::retry_after], "1");
}

TEST_F(HttpServerTokensTest, TheServerTokenCanBeRateLimited) {
  HttpServerOptions options;
  options.token = kServerToken;
  options.rate_limit_per_s = 0.25;
  options.rate_limit_burst = 1;
  Start(options);
  EXPECT_EQ(Infer(Bearer(kServerToken)), 200);
  Response limited = Connect()->Get("/v2", Bearer(kServerToken));
  EXPECT_EQ(limited.result_int(), 429);
  EXPECT_EQ(limited[http::field::retry_after], "4");  // ceil(1 / 0.25)
  clock_.Advance(std::chrono::seconds(4));
  EXPECT_EQ(Connect()->Get("/v2", Bearer(kServerToken)).result_int(), 200);
}

TEST_F(HttpServerTokensTest, AReloadSwapsTheSetAndABadFileKeepsTheOldOne) {
  Start();
  EXPECT_EQ(Infer(Bearer(kInferToken)), 200);
  WriteFile(Entry("reader", kReadToken, R"("read")") + "{\"name\": \"broken\"}\n");
  const Status bad = server_->ReloadTokens();
  ASSERT_FALSE(bad.ok());
  EXPECT_TRUE(Contains(bad.message(), "line 2 (broken)")) << bad.message();
  EXPECT_EQ(Infer(Bearer(kInferToken)), 200) << "the old set stays after a bad reload";
  WriteFile(Entry("reader", kReadToken, R"("read", "infer")"));
  ASSERT_TRUE(server_->ReloadTokens().ok());
  EXPECT_EQ(Infer(Bearer(kInferToken)), 401) << "a removed token stops working";
  EXPECT_EQ(Infer(Bearer(kReadToken)), 200) << "a changed scope applies at once";
  std::remove(path_.c_str());
  EXPECT_EQ(server_->ReloadTokens().code(), StatusCode::kNotFound);
  EXPECT_EQ(Infer(Bearer(kReadToken)), 200);
}

TEST(HttpServerTokensOptionsTest, ABadFileFailsCreateAndAFileCountsAsATokenForPublicBinds) {
  FakeBackend backend;
  HttpServerOptions options;
  options.port = 0;
  options.token_file = "/nonexistent/mlship/tokens.jsonl";
  auto created = HttpServer::Create(options, &backend);
  ASSERT_FALSE(created.ok());
  EXPECT_TRUE(Contains(created.status().message(), "/nonexistent/mlship/tokens.jsonl"));
  HttpServerOptions public_bind;
  public_bind.host = "0.0.0.0";
  EXPECT_FALSE(ValidateHttpServerOptions(public_bind).ok());
  public_bind.token_file = "tokens.jsonl";
  EXPECT_TRUE(ValidateHttpServerOptions(public_bind).ok());
  HttpServerOptions no_file;
  no_file.port = 0;
  auto plain = HttpServer::Create(no_file, &backend);
  ASSERT_TRUE(plain.ok());
  EXPECT_EQ((*plain)->ReloadTokens().code(), StatusCode::kFailedPrecondition);
}

TEST_F(HttpServerTokensTest, TheDashboardLoginSetsAReadOnlyCookieThatExpires) {
  HttpServerOptions options;
  options.dashboard_session_ttl = std::chrono::hours(12);
  Start(options);
  // Without a login a browser is sent to the form; the form has no script.
  Response redirect = Connect()->Get("/dashboard");
  EXPECT_EQ(redirect.result_int(), 303);
  EXPECT_EQ(redirect[http::field::location], "/dashboard/login");
  Response form = Connect()->Get("/dashboard/login");
  EXPECT_EQ(form.result_int(), 200);
  EXPECT_TRUE(Contains(form.body(), "<form method=\"post\" action=\"/dashboard/login\""));
  EXPECT_TRUE(Lacks(form.body(), "<script"));
  EXPECT_TRUE(Contains(std::string(form["Content-Security-Policy"]), "form-action 'self'"));
  EXPECT_TRUE(Lacks(std::string(form["Content-Security-Policy"]), "script-src"));
  EXPECT_EQ(form[http::field::x_frame_options], "DENY");
  // "no-referrer" would make browsers post the form with "Origin: null", which the Origin check refuses.
  EXPECT_EQ(form["Referrer-Policy"], "same-origin");
  // A token without read, or an unknown one, gets no cookie.
  Response no_read = Login(kInferToken);
  EXPECT_EQ(no_read.result_int(), 403);
  EXPECT_TRUE(Contains(no_read.body(), "lacks the &#39;read&#39; scope"));
  EXPECT_EQ(no_read.count(http::field::set_cookie), 0u);
  EXPECT_EQ(Login("unknown-token-0123456789").result_int(), 401);
  // A good one does.
  Response login = Login(kReadToken);
  ASSERT_EQ(login.result_int(), 303) << login.body();
  EXPECT_EQ(login[http::field::location], "/dashboard");
  const std::string set_cookie(login[http::field::set_cookie]);
  EXPECT_TRUE(Contains(set_cookie, "mlship_session=")) << set_cookie;
  EXPECT_TRUE(Contains(set_cookie, "; HttpOnly; SameSite=Strict; Path=/; Max-Age=43200")) << set_cookie;
  EXPECT_TRUE(Lacks(set_cookie, "Secure")) << "plain HTTP: no Secure flag";
  const Headers cookie = {{"Cookie", "theme=dark; " + CookieOf(login)}};
  Response board = Connect()->Get("/dashboard", cookie);
  EXPECT_EQ(board.result_int(), 200);
  EXPECT_EQ(board.body(), "<p>board</p>");
  EXPECT_TRUE(Contains(std::string(board["Content-Security-Policy"]), "frame-ancestors 'none'"));
  EXPECT_EQ(Connect()->Get("/metrics", cookie).result_int(), 200);
  // Reads only, and only on GET: never inference or the repository.
  EXPECT_EQ(Infer(cookie), 401);
  EXPECT_EQ(Load(cookie), 401);
  EXPECT_EQ(backend_.infer_calls(), 0);
  // The login page knows the session.
  EXPECT_TRUE(Contains(Connect()->Get("/dashboard/login", cookie).body(), "/dashboard/logout"));
  // It expires.
  clock_.Advance(std::chrono::hours(12));
  Response expired = Connect()->Get("/dashboard/data", cookie);
  EXPECT_EQ(expired.result_int(), 401);
  EXPECT_TRUE(Contains(ErrorMessage(expired), "log in again at /dashboard/login")) << expired.body();
  EXPECT_EQ(Connect()->Get("/dashboard", cookie).result_int(), 303);
}

TEST_F(HttpServerTokensTest, LogoutEndsTheSessionAndSoDoesRemovingItsToken) {
  Start();
  const std::string first = CookieOf(Login(kReadToken));
  const std::string second = CookieOf(Login(kReadToken));
  ASSERT_NE(first, second);
  EXPECT_EQ(Connect()->Get("/metrics", {{"Cookie", first}}).result_int(), 200);
  EXPECT_EQ(Connect()->Get("/dashboard/logout", {{"Cookie", first}}).result_int(), 405);
  Response logout = Connect()->Post("/dashboard/logout", "", {{"Cookie", first}});
  EXPECT_EQ(logout.result_int(), 303);
  EXPECT_TRUE(Contains(std::string(logout[http::field::set_cookie]), "mlship_session=; ")) << logout.body();
  EXPECT_TRUE(Contains(std::string(logout[http::field::set_cookie]), "Max-Age=0"));
  EXPECT_EQ(Connect()->Get("/metrics", {{"Cookie", first}}).result_int(), 401);
  EXPECT_EQ(Connect()->Get("/metrics", {{"Cookie", second}}).result_int(), 200);
  WriteFile(Entry("inferer", kInferToken, R"("infer")"));
  ASSERT_TRUE(server_->ReloadTokens().ok());
  EXPECT_EQ(Connect()->Get("/metrics", {{"Cookie", second}}).result_int(), 401);
}

TEST_F(HttpServerTokensTest, SessionsAreBoundedOldestFirst) {
  HttpServerOptions options;
  options.max_dashboard_sessions = 2;
  Start(options);
  const std::string oldest = CookieOf(Login(kReadToken));
  clock_.Advance(std::chrono::seconds(1));
  const std::string middle = CookieOf(Login(kReadToken));
  clock_.Advance(std::chrono::seconds(1));
  const std::string newest = CookieOf(Login(kReadToken));
  EXPECT_EQ(Connect()->Get("/metrics", {{"Cookie", oldest}}).result_int(), 401);
  EXPECT_EQ(Connect()->Get("/metrics", {{"Cookie", middle}}).result_int(), 200);
  EXPECT_EQ(Connect()->Get("/metrics", {{"Cookie", newest}}).result_int(), 200);
}

TEST_F(HttpServerTokensTest, BadLoginRequestsAreRefused) {
  Start();
  EXPECT_EQ(Connect()->Post("/dashboard/login", R"({"token": "x"})").result_int(), 415);
  EXPECT_EQ(Connect()
                ->Post("/dashboard/login", "other=1", {{"Content-Type", "application/x-www-form-urlencoded"}})
                .result_int(),
            400);
  EXPECT_EQ(Connect()
                ->Post("/dashboard/login", "token=%zz", {{"Content-Type", "application/x-www-form-urlencoded"}})
                .result_int(),
            400);
  // The form posted from the server's own page passes the Origin check.
  EXPECT_EQ(Connect()
                ->Post("/dashboard/login", std::string("token=") + kReadToken,
                       {{"Content-Type", "application/x-www-form-urlencoded"}, {"Origin", "http://127.0.0.1"}})
                .result_int(),
            303);
  // A login posted from another site's page is refused by the Origin check.
  EXPECT_EQ(Connect()
                ->Post("/dashboard/login", std::string("token=") + kReadToken,
                       {{"Content-Type", "application/x-www-form-urlencoded"}, {"Origin", "https://evil.example"}})
                .result_int(),
            403);
  // A big body is refused before it is read.
  auto client = Connect();
  Response big;
  ASSERT_FALSE(client->SendRaw("POST /dashboard/login HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: "
                               "application/x-www-form-urlencoded\r\nContent-Length: 50000000\r\n\r\n",
                               big));
  EXPECT_EQ(big.result_int(), 413);
  // Percent-encoded tokens are decoded.
  std::string encoded;
  for (char c : std::string(kReadToken)) encoded += c == '-' ? std::string("%2D") : std::string(1, c);
  EXPECT_EQ(Login(encoded).result_int(), 303);
}

TEST(HttpServerNoTokenLoginTest, WithoutTokensTheLoginPagesLeadToTheDashboard) {
  FakeBackend backend;
  HttpServerOptions options;
  options.port = 0;
  auto server = HttpServer::Create(options, &backend);
  ASSERT_TRUE(server.ok());
  ASSERT_TRUE((*server)->Start().ok());
  TestClient client((*server)->port());
  Response login = client.Get("/dashboard/login");
  EXPECT_EQ(login.result_int(), 303);
  EXPECT_EQ(login[http::field::location], "/dashboard");
}

}  // namespace
}  // namespace mlship::serving::testing
