// mlship-bare-http: the ceiling of any KServe v2 server on this machine with
// this client, for bench/serve_bench.py. A Boost.Beast HTTP/1.1 server with
// no model: it reads each POST body, parses it as JSON (the whole tree, with
// Boost.JSON, as a plain server would), checks that it is a KServe v2 infer
// request with an "inputs" array, and answers a fixed KServe v2 response.
// Keep-alive, N I/O threads (default 2, as mlship's io_threads).
//
//   mlship-bare-http --port P [--threads N]
//
// Hand-written, on purpose: it is the baseline, the least a server must do.
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/json.hpp>

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace json = boost::json;
using tcp = asio::ip::tcp;

namespace {

// The answer to every good request: the shape of the digits MLP's output.
const std::string& FixedAnswer() {
  static const std::string answer =
      R"({"model_name":"digits","model_version":"1","outputs":[{"name":"output_0","datatype":"FP32",)"
      R"("shape":[1,10],"data":[0.1,0.2,0.3,0.4,0.5,0.6,0.7,0.8,0.9,1.0]}]})";
  return answer;
}

class Session : public std::enable_shared_from_this<Session> {
 public:
  explicit Session(tcp::socket socket) : stream_(std::move(socket)) {}

  void Read() {
    request_ = {};
    stream_.expires_after(std::chrono::seconds(60));
    http::async_read(stream_, buffer_, request_, beast::bind_front_handler(&Session::OnRead, shared_from_this()));
  }

 private:
  void OnRead(beast::error_code ec, std::size_t) {
    if (ec) return Close();
    http::response<http::string_body> response;
    response.version(request_.version());
    response.keep_alive(request_.keep_alive());
    response.set(http::field::content_type, "application/json");
    if (request_.method() == http::verb::get) {
      response.result(http::status::ok);
      response.body() = "{}";
    } else {
      beast::error_code parse_ec;
      json::value body = json::parse(request_.body(), parse_ec);
      const json::object* object = parse_ec ? nullptr : body.if_object();
      const json::value* inputs = object != nullptr ? object->if_contains("inputs") : nullptr;
      if (inputs != nullptr && inputs->is_array()) {
        response.result(http::status::ok);
        response.body() = FixedAnswer();
      } else {
        response.result(http::status::bad_request);
        response.body() = R"({"error":"expected a KServe v2 infer request"})";
      }
    }
    response.prepare_payload();
    response_ = std::move(response);
    http::async_write(stream_, response_, beast::bind_front_handler(&Session::OnWrite, shared_from_this()));
  }

  void OnWrite(beast::error_code ec, std::size_t) {
    if (ec || !response_.keep_alive()) return Close();
    Read();
  }

  void Close() {
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
  }

  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  http::request<http::string_body> request_;
  http::response<http::string_body> response_;
};

class Listener : public std::enable_shared_from_this<Listener> {
 public:
  Listener(asio::io_context& io, tcp::endpoint endpoint) : io_(io), acceptor_(io) {
    acceptor_.open(endpoint.protocol());
    acceptor_.set_option(asio::socket_base::reuse_address(true));
    acceptor_.bind(endpoint);
    acceptor_.listen(asio::socket_base::max_listen_connections);
  }

  void Accept() {
    acceptor_.async_accept(asio::make_strand(io_), [self = shared_from_this()](beast::error_code ec, tcp::socket s) {
      if (!ec) {
        s.set_option(tcp::no_delay(true));
        std::make_shared<Session>(std::move(s))->Read();
      }
      self->Accept();
    });
  }

 private:
  asio::io_context& io_;
  tcp::acceptor acceptor_;
};

}  // namespace

int main(int argc, char** argv) {
  int port = 0;
  int threads = 2;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (std::strcmp(argv[i], "--port") == 0) port = std::atoi(argv[i + 1]);
    if (std::strcmp(argv[i], "--threads") == 0) threads = std::atoi(argv[i + 1]);
  }
  if (port <= 0 || port > 65535 || threads < 1 || threads > 64) {
    std::fprintf(stderr, "usage: mlship-bare-http --port P [--threads N]  (port 1..65535, threads 1..64)\n");
    return 2;
  }
  asio::io_context io(threads);
  std::make_shared<Listener>(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), static_cast<uint16_t>(port)))
      ->Accept();
  asio::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&io](beast::error_code, int) { io.stop(); });
  std::vector<std::thread> pool;
  for (int i = 1; i < threads; ++i) pool.emplace_back([&io] { io.run(); });
  io.run();
  for (auto& t : pool) t.join();
  return 0;
}
