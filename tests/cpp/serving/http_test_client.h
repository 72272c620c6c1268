// TestClient: a blocking HTTP/1.1 client over Beast for the server tests.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/json/value.hpp>

namespace mlship::serving::testing {

namespace http = boost::beast::http;
using Response = http::response<http::string_body>;
using Request = http::request<http::string_body>;
using Headers = std::vector<std::pair<std::string, std::string>>;

// One keep-alive connection to 127.0.0.1:port. Every call blocks until it
// completes or `timeout` passes (then it fails instead of hanging the test):
// the Beast operations run on a private io_context with tcp_stream timeouts.
class TestClient {
 public:
  explicit TestClient(uint16_t port, std::chrono::milliseconds timeout = std::chrono::seconds(10));

  // False when the connection failed.
  bool connected() const { return !connect_error_; }

  // Sends `request` and reads its response; the error when either fails.
  boost::beast::error_code Send(Request request, Response& response);
  // Writes `bytes` as they are (for malformed requests) and reads a response.
  boost::beast::error_code SendRaw(const std::string& bytes, Response& response);
  // Reads one response without sending anything.
  boost::beast::error_code Read(Response& response);
  // Waits for the server to close the connection: the read's error (eof when
  // it closed cleanly, timeout when it did not close in time).
  boost::beast::error_code WaitForClose();

  // GET / POST with keep-alive. A failed exchange fails the test and
  // returns a response whose status is 0, which no check accepts.
  Response Get(const std::string& target, const Headers& headers = {});
  Response Post(const std::string& target, std::string body, const Headers& headers = {});

 private:
  // Runs the private io_context until the pending operation completes.
  void Run();

  // Runs this client's operations.
  boost::asio::io_context io_;
  // The connection.
  boost::beast::tcp_stream stream_;
  // Read buffer, kept across responses.
  boost::beast::flat_buffer buffer_;
  // The deadline for each operation.
  std::chrono::milliseconds timeout_;
  // Set when connecting failed.
  boost::beast::error_code connect_error_;
};

// Builds a request with Host and keep-alive set.
Request MakeRequest(http::verb verb, const std::string& target, std::string body = {}, const Headers& headers = {});

// Parses a response body as JSON; a null value (and a test failure) if it is not.
boost::json::value ParseJsonBody(const Response& response);

// The "error" string of an error body; empty (and a test failure) if absent.
std::string ErrorMessage(const Response& response);

// A JSON infer request for the doubler: input x of shape [rows, 3] holding `values`.
std::string DoublerRequest(const std::vector<float>& values, const std::string& extra_fields = "");

}  // namespace mlship::serving::testing
