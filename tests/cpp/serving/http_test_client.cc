// TestClient implementation.
#include "http_test_client.h"

#include <gtest/gtest.h>

#include <charconv>

#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/json.hpp>

namespace mlship::serving::testing {
namespace asio = boost::asio;
namespace beast = boost::beast;
using tcp = asio::ip::tcp;

TestClient::TestClient(uint16_t port, std::chrono::milliseconds timeout) : stream_(io_), timeout_(timeout) {
  stream_.expires_after(timeout_);
  stream_.async_connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port),
                        [this](beast::error_code ec) { connect_error_ = ec; });
  Run();
}

void TestClient::Run() {
  io_.restart();
  io_.run();
}

beast::error_code TestClient::Send(Request request, Response& response) {
  request.prepare_payload();
  beast::error_code result;
  stream_.expires_after(timeout_);
  http::async_write(stream_, request, [&](beast::error_code ec, std::size_t) { result = ec; });
  Run();
  if (result) return result;
  return Read(response);
}

beast::error_code TestClient::SendRaw(const std::string& bytes, Response& response) {
  beast::error_code result;
  stream_.expires_after(timeout_);
  asio::async_write(stream_, asio::buffer(bytes), [&](beast::error_code ec, std::size_t) { result = ec; });
  Run();
  if (result) return result;
  return Read(response);
}

beast::error_code TestClient::Read(Response& response) {
  beast::error_code result;
  response = {};
  stream_.expires_after(timeout_);
  http::async_read(stream_, buffer_, response, [&](beast::error_code ec, std::size_t) { result = ec; });
  Run();
  return result;
}

beast::error_code TestClient::WaitForClose() {
  beast::error_code result;
  char byte;
  stream_.expires_after(timeout_);
  stream_.async_read_some(asio::buffer(&byte, 1), [&](beast::error_code ec, std::size_t) { result = ec; });
  Run();
  return result;
}

Response TestClient::Get(const std::string& target, const Headers& headers) {
  Response response;
  const beast::error_code ec = Send(MakeRequest(http::verb::get, target, {}, headers), response);
  EXPECT_FALSE(ec) << "GET " << target << ": " << ec.message();
  if (ec) response.result(0u);
  return response;
}

Response TestClient::Post(const std::string& target, std::string body, const Headers& headers) {
  Response response;
  const beast::error_code ec = Send(MakeRequest(http::verb::post, target, std::move(body), headers), response);
  EXPECT_FALSE(ec) << "POST " << target << ": " << ec.message();
  if (ec) response.result(0u);
  return response;
}

Request MakeRequest(http::verb verb, const std::string& target, std::string body, const Headers& headers) {
  Request request{verb, target, 11};
  request.set(http::field::host, "127.0.0.1");
  request.keep_alive(true);
  // What every KServe client sends with a body; the server refuses browser
  // types (text/plain, forms) on infer.
  if (!body.empty()) request.set(http::field::content_type, "application/json");
  for (const auto& [name, value] : headers) request.set(name, value);
  request.body() = std::move(body);
  return request;
}

boost::json::value ParseJsonBody(const Response& response) {
  boost::system::error_code ec;
  boost::json::value value = boost::json::parse(response.body(), ec);
  EXPECT_FALSE(ec) << "body is not JSON: " << response.body();
  return ec ? boost::json::value() : value;
}

std::string ErrorMessage(const Response& response) {
  const boost::json::value body = ParseJsonBody(response);
  const boost::json::value* error = body.is_object() ? body.get_object().if_contains("error") : nullptr;
  EXPECT_TRUE(error != nullptr && error->is_string()) << "no \"error\" string in: " << response.body();
  if (error == nullptr || !error->is_string()) return "";
  return std::string(error->get_string());
}

std::string DoublerRequest(const std::vector<float>& values, const std::string& extra_fields) {
  std::string data;
  for (float value : values) {
    if (!data.empty()) data += ",";
    char text[32];
    data.append(text, std::to_chars(text, text + sizeof text, value).ptr);
  }
  return "{" + extra_fields + "\"inputs\":[{\"name\":\"x\",\"datatype\":\"FP32\",\"shape\":[" +
         std::to_string(values.size() / 3) + ",3],\"data\":[" + data + "]}]}";
}

}  // namespace mlship::serving::testing
