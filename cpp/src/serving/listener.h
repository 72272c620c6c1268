// Listener: accepts connections and starts a Session for each (internal).
#pragma once

#include <cstdint>
#include <memory>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core/error.hpp>

#include "server_state.h"

namespace mlship::serving::internal {

// Owns the listening socket. Binds in Bind() (so "address in use" surfaces
// in HttpServer::Create), accepts after Start(). Connections beyond
// max_connections get a Session that answers 503; beyond that plus a small
// margin they are closed at once, so a flood cannot pile up sessions.
//
// Accepting runs on the listener's own strand; Start() and Stop() post to it
// and are safe from any thread.
class Listener : public std::enable_shared_from_this<Listener> {
 public:
  // Opens, binds and listens on `endpoint`. FailedPrecondition with the
  // address and the system's reason when that fails.
  static StatusOr<std::shared_ptr<Listener>> Bind(ServerState& state, const boost::asio::ip::tcp::endpoint& endpoint);

  // The bound port.
  uint16_t port() const { return port_; }
  // Begins accepting.
  void Start();
  // Stops accepting and closes the listening socket.
  void Stop();
  // Closes the listening socket from the controlling thread; only when no
  // I/O thread runs (the server was never started).
  void CloseWithoutThreads();

 private:
  Listener(ServerState& state, boost::asio::ip::tcp::acceptor acceptor, uint16_t port);

  void Accept();
  void OnAccept(boost::beast::error_code ec, boost::asio::ip::tcp::socket socket);

  // Shared server state; outlives the listener (see ServerState).
  ServerState& state_;
  // Serializes the accept loop, Stop() and the retry timer.
  boost::asio::strand<boost::asio::io_context::executor_type> strand_;
  // The listening socket; used only on strand_.
  boost::asio::ip::tcp::acceptor acceptor_;
  // Waits before accepting again after a failure such as "too many open
  // files", instead of spinning; used only on strand_.
  boost::asio::steady_timer retry_timer_;
  // The bound port.
  const uint16_t port_;
};

}  // namespace mlship::serving::internal
