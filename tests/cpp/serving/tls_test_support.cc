// Certificates from the openssl command line, and the TLS test client.
#include "tls_test_support.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <stdexcept>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <openssl/bn.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

namespace mlship::serving::testing {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;

namespace {

void Run(const std::string& command) {
  const std::string quiet = command + " >/dev/null 2>&1";
  if (std::system(quiet.c_str()) != 0) throw std::runtime_error("test certificates: this failed: " + command);
}

void Write(const std::string& path, const std::string& text) {
  std::ofstream(path) << text;
}

// A key and a certificate signing request for `cn`.
void KeyAndRequest(const std::string& dir, const std::string& name, const std::string& cn) {
  Run("openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout " + dir + "/" + name +
      ".key -out " + dir + "/" + name + ".csr -subj /CN=" + cn);
}

// A CA: key and self-signed certificate (openssl's v3_ca extensions).
void MakeCa(const std::string& dir, const std::string& name, const std::string& cn) {
  Run("openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 -keyout " + dir + "/" +
      name + ".key -out " + dir + "/" + name + ".pem -subj '/CN=" + cn + "'");
}

void Sign(const std::string& dir, const std::string& name, const std::string& ca, int serial, const std::string& ext) {
  Run("openssl x509 -req -days 2 -in " + dir + "/" + name + ".csr -CA " + dir + "/" + ca + ".pem -CAkey " + dir + "/" +
      ca + ".key -set_serial " + std::to_string(serial) + " -out " + dir + "/" + name + ".pem -extfile " + dir + "/" +
      ext);
}

}  // namespace

Certificates::Certificates() {
  char pattern[] = "/tmp/mlship-tls-XXXXXX";
  if (!mkdtemp(pattern)) throw std::runtime_error("cannot make a temporary folder");
  dir = pattern;
  Write(dir + "/server.ext",
        "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n"
        "subjectAltName=IP:127.0.0.1,DNS:localhost\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n");
  Write(dir + "/client.ext",
        "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\n"
        "subjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n");
  MakeCa(dir, "ca", "mlship test CA");
  MakeCa(dir, "other-ca", "another CA");
  KeyAndRequest(dir, "server-a", "server-a");
  Sign(dir, "server-a", "ca", 1001, "server.ext");
  KeyAndRequest(dir, "server-b", "server-b");
  Sign(dir, "server-b", "ca", 2002, "server.ext");
  KeyAndRequest(dir, "client", "client-1");
  Sign(dir, "client", "ca", 3003, "client.ext");
  KeyAndRequest(dir, "other-client", "intruder");
  Sign(dir, "other-client", "other-ca", 4004, "client.ext");
  ca_cert = dir + "/ca.pem";
  other_ca_cert = dir + "/other-ca.pem";
  other_client_cert = dir + "/other-client.pem";
  other_client_key = dir + "/other-client.key";
  server_a_cert = dir + "/server-a.pem";
  server_a_key = dir + "/server-a.key";
  server_b_cert = dir + "/server-b.pem";
  server_b_key = dir + "/server-b.key";
  client_cert = dir + "/client.pem";
  client_key = dir + "/client.key";
}

Certificates::~Certificates() {
  std::error_code ignored;
  std::filesystem::remove_all(dir, ignored);
}

namespace {

// The client's context, complete before the stream is made from it (an SSL
// object copies its context's settings when it is created).
ssl::context ClientContext(const TlsClientOptions& options) {
  ssl::context context(ssl::context::tls_client);
  context.load_verify_file(options.ca_file);
  context.set_verify_mode(ssl::verify_peer);
  context.set_verify_callback(ssl::host_name_verification("127.0.0.1"));
  if (!options.cert_file.empty()) {
    context.use_certificate_chain_file(options.cert_file);
    context.use_private_key_file(options.key_file, ssl::context::pem);
  }
  if (options.max_version != 0) {
    SSL_CTX* native = context.native_handle();
    SSL_CTX_set_min_proto_version(native, 0);
    SSL_CTX_set_max_proto_version(native, options.max_version);
    // OpenSSL 3 refuses TLS 1.0/1.1 at its default security level: let this
    // client offer them, so that it is the server that refuses.
    SSL_CTX_set_security_level(native, 0);
    SSL_CTX_set_cipher_list(native, "ALL:@SECLEVEL=0");
  }
  return context;
}

}  // namespace

TlsTestClient::TlsTestClient(uint16_t port, const TlsClientOptions& options)
    : context_(ClientContext(options)), stream_(io_, context_), timeout_(options.timeout) {
  // Each client has its own context, so no session is resumed: every
  // handshake is a full one and sees the certificate the server holds now.
  auto& tcp_layer = beast::get_lowest_layer(stream_);
  tcp_layer.expires_after(timeout_);
  tcp_layer.async_connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port),
                          [this](beast::error_code ec) { handshake_error_ = ec; });
  Run();
  if (handshake_error_) return;
  tcp_layer.expires_after(timeout_);
  stream_.async_handshake(ssl::stream_base::client, [this](beast::error_code ec) { handshake_error_ = ec; });
  // Under TLS 1.3 the server checks a client certificate after the client
  // considers the handshake done: such a refusal arrives with the first read.
  Run();
}

void TlsTestClient::Run() {
  io_.restart();
  io_.run();
}

std::string TlsTestClient::PeerCommonName() const {
  X509* cert = SSL_get1_peer_certificate(const_cast<TlsTestClient*>(this)->stream_.native_handle());
  if (!cert) return "";
  char cn[256] = {};
  X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, cn, sizeof cn);
  X509_free(cert);
  return cn;
}

std::string TlsTestClient::PeerSerial() const {
  X509* cert = SSL_get1_peer_certificate(const_cast<TlsTestClient*>(this)->stream_.native_handle());
  if (!cert) return "";
  BIGNUM* serial = ASN1_INTEGER_to_BN(X509_get_serialNumber(cert), nullptr);
  char* text = BN_bn2dec(serial);
  std::string result = text;
  OPENSSL_free(text);
  BN_free(serial);
  X509_free(cert);
  return result;
}

std::string TlsTestClient::Protocol() const {
  return SSL_get_version(const_cast<TlsTestClient*>(this)->stream_.native_handle());
}

beast::error_code TlsTestClient::Send(Request request, Response& response) {
  request.prepare_payload();
  beast::error_code result;
  beast::get_lowest_layer(stream_).expires_after(timeout_);
  http::async_write(stream_, request, [&](beast::error_code ec, std::size_t) { result = ec; });
  Run();
  if (result) return result;
  response = {};
  beast::get_lowest_layer(stream_).expires_after(timeout_);
  http::async_read(stream_, buffer_, response, [&](beast::error_code ec, std::size_t) { result = ec; });
  Run();
  return result;
}

Response TlsTestClient::Get(const std::string& target, const Headers& headers) {
  Response response;
  const beast::error_code ec = Send(MakeRequest(http::verb::get, target, {}, headers), response);
  EXPECT_FALSE(ec) << "GET " << target << ": " << ec.message();
  if (ec) response.result(0u);
  return response;
}

Response TlsTestClient::Post(const std::string& target, std::string body, const Headers& headers) {
  Response response;
  const beast::error_code ec = Send(MakeRequest(http::verb::post, target, std::move(body), headers), response);
  EXPECT_FALSE(ec) << "POST " << target << ": " << ec.message();
  if (ec) response.result(0u);
  return response;
}

}  // namespace mlship::serving::testing
