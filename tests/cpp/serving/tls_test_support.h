// Test certificates made with the openssl command line, and a blocking TLS
// client over Beast that verifies the server's certificate.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>

#include "http_test_client.h"

namespace mlship::serving::testing {

// A fresh temporary folder with two CAs and certificates they signed (EC
// P-256 keys, valid two days). Made once per Certificates object; the
// folder is removed with it. Paths are absolute.
struct Certificates {
  Certificates();
  ~Certificates();
  Certificates(const Certificates&) = delete;
  Certificates& operator=(const Certificates&) = delete;

  // The folder.
  std::string dir;
  // The CA clients trust, and that signs the client certificate mTLS
  // accepts.
  std::string ca_cert;
  // A second, unrelated CA, and a client certificate it signed (refused
  // under mTLS with ca_cert).
  std::string other_ca_cert;
  std::string other_client_cert, other_client_key;
  // Server certificates for 127.0.0.1/localhost signed by ca_cert: "a"
  // (subject CN server-a, serial 1001) and "b" (CN server-b, serial 2002),
  // to tell them apart after a reload.
  std::string server_a_cert, server_a_key;
  std::string server_b_cert, server_b_key;
  // A client certificate (CN client-1) signed by ca_cert.
  std::string client_cert, client_key;
};

// What a TlsTestClient may change.
struct TlsClientOptions {
  // The CA the server's certificate must chain to (verification always on,
  // host name checked against 127.0.0.1).
  std::string ca_file;
  // A client certificate and key to present (mTLS); empty: none.
  std::string cert_file, key_file;
  // The highest protocol version offered (e.g. TLS1_1_VERSION); 0: any.
  int max_version = 0;
  // The timeout of each operation.
  std::chrono::milliseconds timeout{std::chrono::seconds(10)};
};

// One TLS connection to 127.0.0.1:port: connects and handshakes in the
// constructor; every call blocks until done or the timeout.
class TlsTestClient {
 public:
  TlsTestClient(uint16_t port, const TlsClientOptions& options);

  // The error of connecting or the handshake (none when both worked).
  boost::beast::error_code handshake_error() const { return handshake_error_; }
  // The server certificate's subject CN and serial (decimal), after a
  // handshake.
  std::string PeerCommonName() const;
  std::string PeerSerial() const;
  // The negotiated protocol, e.g. "TLSv1.3".
  std::string Protocol() const;

  // Sends `request` and reads its response.
  boost::beast::error_code Send(Request request, Response& response);
  // GET / POST with keep-alive; a failed exchange fails the test (status 0).
  Response Get(const std::string& target, const Headers& headers = {});
  Response Post(const std::string& target, std::string body, const Headers& headers = {});

 private:
  void Run();

  boost::asio::io_context io_;
  boost::asio::ssl::context context_;
  boost::beast::ssl_stream<boost::beast::tcp_stream> stream_;
  boost::beast::flat_buffer buffer_;
  std::chrono::milliseconds timeout_;
  boost::beast::error_code handshake_error_;
};

}  // namespace mlship::serving::testing
