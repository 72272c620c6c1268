// TLS on the HTTP server: HTTPS with a certificate the test makes (openssl
// CLI) and a client that verifies it, plain HTTP on the TLS port, protocol
// versions, mutual TLS, reloading the certificate, slow handshakes and bad
// options.
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>

#include <openssl/ssl.h>

#include "server_fixture.h"
#include "tls_test_support.h"

namespace mlship::serving::testing {
namespace {

namespace fs = std::filesystem;

// One set of certificates for the whole binary: making them runs openssl a
// dozen times. Its folder goes at exit.
const Certificates& Certs() {
  static const Certificates certs;
  return certs;
}

class HttpServerTlsTest : public ServerTest {
 protected:
  // Options serving HTTPS with server certificate "a" (copied to files of
  // this test, so a reload can change them).
  HttpServerOptions TlsOptions() {
    live_dir_ = Certs().dir + "/" + ::testing::UnitTest::GetInstance()->current_test_info()->name();
    fs::create_directories(live_dir_);
    cert_ = live_dir_ + "/cert.pem";
    key_ = live_dir_ + "/key.pem";
    fs::copy_file(Certs().server_a_cert, cert_, fs::copy_options::overwrite_existing);
    fs::copy_file(Certs().server_a_key, key_, fs::copy_options::overwrite_existing);
    HttpServerOptions options;
    options.tls_cert = cert_;
    options.tls_key = key_;
    return options;
  }

  std::unique_ptr<TlsTestClient> ConnectTls(TlsClientOptions options = {}) {
    if (options.ca_file.empty()) options.ca_file = Certs().ca_cert;
    return std::make_unique<TlsTestClient>(port_, options);
  }

  // Whether the server refused the connection: the handshake failed, or
  // (TLS 1.3 checks client certificates after the client's side of the
  // handshake) the first request gets no answer.
  static bool Refused(TlsTestClient& client) {
    if (client.handshake_error()) return true;
    Response response;
    return static_cast<bool>(client.Send(MakeRequest(http::verb::get, "/v2/health/live"), response));
  }

  void ExpectTlsServerStillAnswers() {
    auto client = ConnectTls();
    ASSERT_FALSE(client->handshake_error()) << client->handshake_error().message();
    Response response = client->Post("/v2/models/doubler/infer", DoublerRequest({1, 2, 3}));
    EXPECT_EQ(response.result_int(), 200) << response.body();
  }

  std::string live_dir_, cert_, key_;
};

TEST_F(HttpServerTlsTest, ServesInferenceOverVerifiedTls) {
  StartServer(TlsOptions());
  auto client = ConnectTls();
  ASSERT_FALSE(client->handshake_error()) << client->handshake_error().message();
  EXPECT_EQ(client->PeerCommonName(), "server-a");
  EXPECT_EQ(client->Protocol(), "TLSv1.3");
  Response response = client->Post("/v2/models/doubler/infer", DoublerRequest({1, 2, 3}));
  ASSERT_EQ(response.result_int(), 200) << response.body();
  const boost::json::value body = ParseJsonBody(response);
  const auto& output = body.at("outputs").at(0).at("data").as_array();
  ASSERT_EQ(output.size(), 3u);
  EXPECT_EQ(output[2].to_number<double>(), 6.0);
  // Keep-alive over the same TLS connection.
  EXPECT_EQ(client->Get("/v2/health/ready").result_int(), 200);
  EXPECT_EQ(client->Get("/v2/models/doubler").result_int(), 200);
  EXPECT_TRUE(server_->serves_tls());
}

TEST_F(HttpServerTlsTest, ClientThatTrustsAnotherCaRefusesTheServer) {
  StartServer(TlsOptions());
  TlsClientOptions options;
  options.ca_file = Certs().other_ca_cert;
  auto client = ConnectTls(options);
  EXPECT_TRUE(client->handshake_error()) << "the test client verifies the server's certificate";
  ExpectTlsServerStillAnswers();
}

TEST_F(HttpServerTlsTest, PlainHttpOnTheTlsPortGets400AndTheServerGoesOn) {
  StartServer(TlsOptions());
  for (int i = 0; i < 3; ++i) {
    TestClient plain(port_);
    ASSERT_TRUE(plain.connected());
    Response response;
    const auto ec = plain.Send(MakeRequest(http::verb::get, "/v2/health/live"), response);
    ASSERT_FALSE(ec) << ec.message();
    EXPECT_EQ(response.result_int(), 400);
    EXPECT_TRUE(Contains(ErrorMessage(response), "https://")) << response.body();
    EXPECT_EQ(plain.WaitForClose(), boost::asio::error::eof);
  }
  // Garbage that is neither HTTP nor TLS closes too.
  TestClient garbage(port_);
  Response ignored;
  garbage.SendRaw(std::string("\x16\x03\x01\x00\x05hello", 10), ignored);
  ExpectTlsServerStillAnswers();
}

TEST_F(HttpServerTlsTest, Tls12IsAcceptedAndTls11Refused) {
  StartServer(TlsOptions());
  TlsClientOptions tls12;
  tls12.max_version = TLS1_2_VERSION;
  auto modern = ConnectTls(tls12);
  ASSERT_FALSE(modern->handshake_error()) << modern->handshake_error().message();
  EXPECT_EQ(modern->Protocol(), "TLSv1.2");
  EXPECT_EQ(modern->Get("/v2/health/live").result_int(), 200);

  for (int version : {TLS1_1_VERSION, TLS1_VERSION}) {
    TlsClientOptions old;
    old.max_version = version;
    auto client = ConnectTls(old);
    EXPECT_TRUE(client->handshake_error()) << "protocol version " << std::hex << version << " was accepted";
  }
  ExpectTlsServerStillAnswers();
}

TEST_F(HttpServerTlsTest, MutualTlsNeedsAClientCertificateFromTheConfiguredCa) {
  HttpServerOptions options = TlsOptions();
  options.tls_client_ca = Certs().ca_cert;
  StartServer(options);

  auto anonymous = ConnectTls();
  EXPECT_TRUE(Refused(*anonymous)) << "a client without a certificate was served";

  TlsClientOptions intruder;
  intruder.cert_file = Certs().other_client_cert;
  intruder.key_file = Certs().other_client_key;
  auto foreign = ConnectTls(intruder);
  EXPECT_TRUE(Refused(*foreign)) << "a certificate from another CA was accepted";

  TlsClientOptions good;
  good.cert_file = Certs().client_cert;
  good.key_file = Certs().client_key;
  auto client = ConnectTls(good);
  ASSERT_FALSE(client->handshake_error()) << client->handshake_error().message();
  Response response = client->Post("/v2/models/doubler/infer", DoublerRequest({4, 5, 6}));
  EXPECT_EQ(response.result_int(), 200) << response.body();
}

TEST_F(HttpServerTlsTest, RefusedHandshakesAndPlainHttpAreAudited) {
  HttpServerOptions options = TlsOptions();
  options.tls_client_ca = Certs().ca_cert;
  options.audit_log = live_dir_ + "/audit.log";
  fs::remove(options.audit_log);
  StartServer(options);
  auto anonymous = ConnectTls();
  EXPECT_TRUE(Refused(*anonymous));
  {
    TestClient plain(port_);
    Response response;
    ASSERT_FALSE(plain.Send(MakeRequest(http::verb::get, "/v2"), response));
    EXPECT_EQ(response.result_int(), 400);
  }
  TlsClientOptions good;
  good.cert_file = Certs().client_cert;
  good.key_file = Certs().client_key;
  EXPECT_EQ(ConnectTls(good)->Get("/v2/health/live").result_int(), 200);
  server_->Stop();  // writes out every queued event
  std::ifstream in(options.audit_log);
  std::string auth_failed, refused;
  int lines = 0;
  for (std::string line; std::getline(in, line); ++lines) {
    if (Contains(line, R"("action":"auth.failed")")) auth_failed = line;
    if (Contains(line, R"("action":"refused")")) refused = line;
  }
  EXPECT_EQ(lines, 2);
  EXPECT_TRUE(Contains(auth_failed, "TLS handshake failed")) << auth_failed;
  EXPECT_TRUE(Contains(refused, R"("status":400)")) << refused;
  EXPECT_TRUE(Contains(refused, "https://")) << refused;
}

TEST_F(HttpServerTlsTest, ReloadSwapsTheCertificateForNewConnections) {
  StartServer(TlsOptions());
  auto before = ConnectTls();
  ASSERT_FALSE(before->handshake_error());
  EXPECT_EQ(before->PeerSerial(), "1001");

  fs::copy_file(Certs().server_b_cert, cert_, fs::copy_options::overwrite_existing);
  fs::copy_file(Certs().server_b_key, key_, fs::copy_options::overwrite_existing);
  ASSERT_TRUE(server_->ReloadTls().ok());

  auto after = ConnectTls();
  ASSERT_FALSE(after->handshake_error()) << after->handshake_error().message();
  EXPECT_EQ(after->PeerCommonName(), "server-b");
  EXPECT_EQ(after->PeerSerial(), "2002");
  EXPECT_EQ(after->Get("/v2/health/live").result_int(), 200);
  // The connection made before the reload keeps working.
  EXPECT_EQ(before->Post("/v2/models/doubler/infer", DoublerRequest({1, 1, 1})).result_int(), 200);
}

TEST_F(HttpServerTlsTest, FailedReloadKeepsTheOldCertificate) {
  StartServer(TlsOptions());
  // A certificate whose key is not the one in tls_key.
  fs::copy_file(Certs().server_b_cert, cert_, fs::copy_options::overwrite_existing);
  Status mismatched = server_->ReloadTls();
  EXPECT_EQ(mismatched.code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(Contains(mismatched.message(), "is not the key of the certificate")) << mismatched.message();

  std::ofstream(cert_, std::ios::trunc) << "-----BEGIN CERTIFICATE-----\nnot base64 at all\n";
  Status broken = server_->ReloadTls();
  EXPECT_FALSE(broken.ok());
  EXPECT_TRUE(Contains(broken.message(), cert_)) << broken.message();

  fs::remove(key_);
  std::string done = "unchanged";
  Status missing = server_->Reload(&done);
  EXPECT_TRUE(Contains(missing.message(), "TLS certificate: tls_key '" + key_ + "' cannot be read"))
      << missing.message();
  EXPECT_EQ(done, "");

  auto client = ConnectTls();
  ASSERT_FALSE(client->handshake_error()) << client->handshake_error().message();
  EXPECT_EQ(client->PeerCommonName(), "server-a");
  EXPECT_EQ(client->Get("/v2/health/live").result_int(), 200);
}

TEST_F(HttpServerTlsTest, ReloadReloadsTlsAndTheTokenFile) {
  HttpServerOptions options = TlsOptions();
  options.token_file = live_dir_ + "/tokens.jsonl";
  std::ofstream(options.token_file) << "";
  StartServer(options);
  std::string done;
  ASSERT_TRUE(server_->Reload(&done).ok());
  EXPECT_EQ(done, "TLS certificate, token file");
}

TEST_F(HttpServerTlsTest, WithoutTlsReloadTlsIsAnErrorAndReloadDoesNothing) {
  StartServer();
  EXPECT_FALSE(server_->serves_tls());
  EXPECT_EQ(server_->ReloadTls().code(), StatusCode::kFailedPrecondition);
  std::string done = "unchanged";
  EXPECT_TRUE(server_->Reload(&done).ok());
  EXPECT_EQ(done, "");
}

TEST_F(HttpServerTlsTest, AClientThatNeverHandshakesIsClosedAfterTheIdleTimeout) {
  HttpServerOptions options = TlsOptions();
  options.idle_timeout = std::chrono::milliseconds(200);
  StartServer(options);
  // Connects and sends nothing; then one that sends half a ClientHello. The
  // clients wait far longer than idle_timeout (a machine pausing this
  // process can make both timers fire at once), but pass as soon as the
  // server closes.
  TestClient silent(port_, std::chrono::seconds(120));
  ASSERT_TRUE(silent.connected());
  EXPECT_EQ(silent.WaitForClose(), boost::asio::error::eof);
  TestClient partial(port_, std::chrono::seconds(120));
  Response ignored;
  // No answer comes: the client's read ends when the server closes.
  const auto ec = partial.SendRaw(std::string("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 11), ignored);
  EXPECT_TRUE(ec == http::error::end_of_stream || ec == boost::asio::error::connection_reset) << ec.message();
  ExpectTlsServerStillAnswers();
}

TEST_F(HttpServerTlsTest, StopClosesAConnectionStillInItsHandshake) {
  StartServer(TlsOptions());  // idle_timeout 60 s: only the drain can close it
  TestClient silent(port_, std::chrono::seconds(120));
  ASSERT_TRUE(silent.connected());
  server_->Stop();
  const auto ec = silent.WaitForClose();
  EXPECT_TRUE(ec == boost::asio::error::eof || ec == boost::asio::error::connection_reset) << ec.message();
}

TEST_F(HttpServerTlsTest, DashboardCookieIsSecureOverTls) {
  HttpServerOptions options = TlsOptions();
  options.token = "dashboard-token-0123456789abcdefghijklmnop";
  StartServer(options);
  ASSERT_TRUE(server_->AddGetRoute("/dashboard", [] { return StatusOr<HttpContent>(HttpContent{"ok"}); }).ok());
  auto client = ConnectTls();
  ASSERT_FALSE(client->handshake_error());
  Response login = client->Post("/dashboard/login", "token=" + options.token,
                                {{"Content-Type", "application/x-www-form-urlencoded"}});
  EXPECT_EQ(login.result_int(), 303) << login.body();
  EXPECT_TRUE(Contains(std::string(login[http::field::set_cookie]), "; Secure")) << login[http::field::set_cookie];
}

class HttpServerTlsOptionsTest : public ::testing::Test {
 protected:
  static Status CreateWith(HttpServerOptions options) {
    options.host = "127.0.0.1";
    options.port = 0;
    FakeBackend backend;
    return HttpServer::Create(options, &backend).status();
  }
};

TEST_F(HttpServerTlsOptionsTest, CertificateAndKeyGoTogether) {
  HttpServerOptions only_cert;
  only_cert.tls_cert = Certs().server_a_cert;
  Status status = CreateWith(only_cert);
  EXPECT_EQ(status.code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(Contains(status.message(), "both tls_cert and tls_key")) << status.message();
  EXPECT_TRUE(Contains(status.message(), "got only tls_cert")) << status.message();

  HttpServerOptions only_key;
  only_key.tls_key = Certs().server_a_key;
  EXPECT_TRUE(Contains(CreateWith(only_key).message(), "got only tls_key"));

  HttpServerOptions ca_alone;
  ca_alone.tls_client_ca = Certs().ca_cert;
  EXPECT_TRUE(Contains(CreateWith(ca_alone).message(), "tls_client_ca (client certificates, mTLS) needs TLS"));
}

TEST_F(HttpServerTlsOptionsTest, UnreadableOrWrongFilesAreNamed) {
  HttpServerOptions missing;
  missing.tls_cert = Certs().dir + "/no-such.pem";
  missing.tls_key = Certs().server_a_key;
  Status status = CreateWith(missing);
  EXPECT_EQ(status.code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(Contains(status.message(), "tls_cert '" + missing.tls_cert + "' cannot be read")) << status.message();

  HttpServerOptions swapped;  // a key where the certificate belongs
  swapped.tls_cert = Certs().server_a_key;
  swapped.tls_key = Certs().server_a_key;
  EXPECT_TRUE(Contains(CreateWith(swapped).message(), "holds no PEM certificate"));

  HttpServerOptions mismatched;
  mismatched.tls_cert = Certs().server_a_cert;
  mismatched.tls_key = Certs().server_b_key;
  EXPECT_TRUE(Contains(CreateWith(mismatched).message(), "is not the key of the certificate"));

  HttpServerOptions bad_ca;
  bad_ca.tls_cert = Certs().server_a_cert;
  bad_ca.tls_key = Certs().server_a_key;
  bad_ca.tls_client_ca = Certs().server_a_key;
  EXPECT_TRUE(Contains(CreateWith(bad_ca).message(), "tls_client_ca '" + bad_ca.tls_client_ca + "' holds no PEM"));
}

}  // namespace
}  // namespace mlship::serving::testing
