// Accepting connections, with the connection limit.
#include "listener.h"

#include <chrono>
#include <utility>

#include <boost/asio/post.hpp>
#include <boost/beast/core/bind_handler.hpp>
#include <boost/beast/core/error.hpp>

#include "session.h"

namespace mlship::serving::internal {
namespace asio = boost::asio;
namespace beast = boost::beast;
using tcp = asio::ip::tcp;

namespace {

// Connections answered 503 at once, beyond max_connections, before further
// ones are closed without an answer.
constexpr std::size_t kMaxRejectingConnections = 64;
// Pause after a failed accept (e.g. out of file descriptors).
constexpr std::chrono::milliseconds kAcceptRetryDelay{100};

}  // namespace

StatusOr<std::shared_ptr<Listener>> Listener::Bind(ServerState& state, const tcp::endpoint& endpoint) {
  tcp::acceptor acceptor(state.io);
  const std::string where = endpoint.address().to_string() + ":" + std::to_string(endpoint.port());
  beast::error_code ec;
  acceptor.open(endpoint.protocol(), ec);
  // Lets a restarted server bind while old connections sit in TIME_WAIT; it
  // does not let two servers share a port on Linux.
  if (!ec) acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) acceptor.bind(endpoint, ec);
  if (!ec) acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    return Status::FailedPrecondition("cannot listen on " + where + ": " + ec.message() +
                                      "; choose another port (0 picks a free one) or stop what holds it");
  }
  const uint16_t port = acceptor.local_endpoint(ec).port();
  if (ec) return Status::Internal("cannot read the bound port: " + ec.message());
  return std::shared_ptr<Listener>(new Listener(state, std::move(acceptor), port));
}

Listener::Listener(ServerState& state, tcp::acceptor acceptor, uint16_t port)
    : state_(state),
      strand_(asio::make_strand(state.io)),
      acceptor_(std::move(acceptor)),
      retry_timer_(strand_),
      port_(port) {}

void Listener::Start() {
  asio::post(strand_, [self = shared_from_this()] { self->Accept(); });
}

void Listener::Stop() {
  asio::post(strand_, [self = shared_from_this()] {
    beast::error_code ignored;
    self->acceptor_.close(ignored);
    self->retry_timer_.cancel();
  });
}

void Listener::CloseWithoutThreads() {
  beast::error_code ignored;
  acceptor_.close(ignored);
}

void Listener::Accept() {
  if (!acceptor_.is_open()) return;
  // Each connection gets its own strand: its handlers never run concurrently.
  acceptor_.async_accept(asio::make_strand(state_.io),
                         beast::bind_front_handler(&Listener::OnAccept, shared_from_this()));
}

void Listener::OnAccept(beast::error_code ec, tcp::socket socket) {
  if (ec == asio::error::operation_aborted || !acceptor_.is_open() || state_.draining.load()) return;
  if (ec) {
    retry_timer_.expires_after(kAcceptRetryDelay);
    retry_timer_.async_wait([self = shared_from_this()](beast::error_code wait_ec) {
      if (!wait_ec) self->Accept();
    });
    return;
  }
  beast::error_code ignored;
  socket.set_option(tcp::no_delay(true), ignored);  // small responses go out at once
  const bool serve = state_.open_connections.load() < state_.options.max_connections;
  if (serve || state_.rejecting_connections.load() < kMaxRejectingConnections) {
    const Connection::Mode mode = serve ? Connection::Mode::kServe : Connection::Mode::kReject;
    if (state_.tls) {
      // The context current now; a reload changes it for later connections.
      std::make_shared<Session<TlsStream>>(state_, std::move(socket), mode, state_.tls->Current())->Start();
    } else {
      std::make_shared<Session<PlainStream>>(state_, std::move(socket), mode)->Start();
    }
  } else {
    socket.close(ignored);
  }
  Accept();
}

}  // namespace mlship::serving::internal
