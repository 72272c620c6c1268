// libFuzzer target: the HTTP request path end to end (Beast's parser under
// mlship's bounds, chunked bodies, the browser and token screens, routing,
// the handlers and the KServe codec) on a real HttpServer bound to
// 127.0.0.1, in front of the tests' FakeBackend. Each input is written as is
// on a fresh connection, which is then half-closed and read until the
// server closes it. The first byte picks the server: odd, one that needs a
// token (so the screen before the body is reached too).
//
// A real socket rather than a call into the session: the session's own code
// (buffer bounds, 100-continue, lingering close) is part of what is fuzzed,
// and a libFuzzer process sees coverage from the server's threads as well.
//
// Oracle: a crash or sanitizer report anywhere in the server, a hang
// (libFuzzer's -timeout), or the server not answering a liveness probe
// after an input.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>

#include "fake_backend.h"
#include "mlship/serving/http_server.h"

namespace {

using mlship::serving::HttpServer;
using mlship::serving::HttpServerOptions;
using mlship::serving::testing::FakeBackend;

struct Target {
  FakeBackend backend;
  std::unique_ptr<HttpServer> server;
};

std::unique_ptr<Target> Start(const std::string& token) {
  auto target = std::make_unique<Target>();
  HttpServerOptions options;
  options.host = "127.0.0.1";
  options.port = 0;
  options.token = token;
  options.io_threads = 2;
  options.max_body_bytes = 1 << 20;
  options.idle_timeout = std::chrono::seconds(2);
  auto created = HttpServer::Create(options, &target->backend);
  if (!created.ok() || !(*created)->Start().ok()) {
    std::fprintf(stderr, "fuzz_http_request: the server did not start: %s\n",
                 created.ok() ? "Start failed" : created.status().ToString().c_str());
    std::abort();
  }
  target->server = std::move(*created);
  return target;
}

// A connected socket with 3 s send/receive timeouts, or -1.
int Connect(uint16_t port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return -1;
  timeval timeout{3, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout);
  const int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port);
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

// Writes `bytes`, half-closes, and reads what comes back until the server
// closes (or a timeout). Returns what was read.
std::string Exchange(uint16_t port, std::string_view bytes) {
  const int fd = Connect(port);
  if (fd < 0) {
    std::fprintf(stderr, "fuzz_http_request: cannot connect to the server\n");
    std::abort();
  }
  std::size_t sent = 0;
  while (sent < bytes.size()) {
    const ssize_t n = ::send(fd, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) break;  // the server may close early (431, 413): that is an answer
    sent += static_cast<std::size_t>(n);
  }
  ::shutdown(fd, SHUT_WR);
  std::string reply;
  char chunk[4096];
  for (;;) {
    const ssize_t n = ::recv(fd, chunk, sizeof chunk, 0);
    if (n <= 0) break;
    reply.append(chunk, static_cast<std::size_t>(n));
    if (reply.size() > (std::size_t{4} << 20)) break;
  }
  ::close(fd);
  return reply;
}

constexpr std::string_view kLivenessProbe = "GET /v2/health/live HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
  static const std::unique_ptr<Target> open = Start("");
  static const std::unique_ptr<Target> guarded = Start(std::string(32, 't'));
  static uint64_t runs = 0;
  if (size == 0) return 0;
  const Target& target = (data[0] & 1) != 0 ? *guarded : *open;
  Exchange(target.server->port(), {reinterpret_cast<const char*>(data + 1), size - 1});
  // The server must keep serving: probe it now and then (every input would
  // halve the rate).
  if (++runs % 64 == 0) {
    const std::string reply = Exchange(target.server->port(), kLivenessProbe);
    if (reply.rfind("HTTP/1.1 200", 0) != 0) {
      std::fprintf(stderr, "fuzz_http_request: the server stopped answering its liveness probe: '%.80s'\n",
                   reply.c_str());
      std::abort();
    }
  }
  return 0;
}
