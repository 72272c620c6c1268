// What the HTTP server's listener, sessions and Backend callbacks share
// (internal).
#pragma once

#include <atomic>
#include <cstddef>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <boost/asio/io_context.hpp>

#include "audit_log.h"
#include "mlship/serving/backend.h"
#include "mlship/serving/http_server.h"
#include "tls_context.h"
#include "token_authority.h"

namespace mlship::serving::internal {

class Connection;

// Shared by everything that runs on the I/O threads. Held by shared_ptr:
// the HttpServer owns it, and so does every request the Backend still
// holds, so the io_context outlives any callback that may post to it.
//
// Member order matters for destruction: io is declared last so it is
// destroyed first, while the registries its pending handlers (sessions)
// touch on the way out still exist.
//
// Thread-safe: fixed members are read-only, the rest are atomics or guarded
// by the mutex named beside them.
struct ServerState : std::enable_shared_from_this<ServerState> {
  ServerState(const HttpServerOptions& options, Backend* backend, RepositoryControl* repository);

  // Adds an extra GET route; see HttpServer::AddGetRoute.
  Status AddGetRoute(const std::string& path, QueryRouteHandler handler);
  // The extra route for `path`, if any.
  std::optional<QueryRouteHandler> FindGetRoute(std::string_view path) const;

  // Tracks live sessions so Stop() can close the idle ones.
  void RegisterSession(const std::shared_ptr<Connection>& session);
  void UnregisterSession(const Connection* session);
  std::vector<std::shared_ptr<Connection>> LiveSessions() const;

  // The server's options, fixed at Create().
  const HttpServerOptions options;
  // The model side; outlives the server (HttpServer::Create's contract).
  Backend* const backend;
  // The repository endpoints' side, or null; outlives the server too.
  RepositoryControl* const repository;

  // Writes a line to options.error_log (standard error by default): the
  // full text of an error kept from a client. Safe from any thread.
  void LogError(std::string_view line) const;

  // The audit log, or null when options.audit_log is empty. Set by
  // HttpServer::Create before any I/O thread runs; Record() is thread-safe.
  // Shared with a gRPC front end (HttpServer::shared()).
  std::shared_ptr<AuditLog> audit;
  // The bearer tokens, their rate limits and the dashboard logins;
  // thread-safe (mutable: checking a request takes from its rate limit).
  mutable TokenAuthority tokens;
  // Whether connections are served over TLS (options.tls_cert is set),
  // which makes the dashboard's session cookie Secure. Fixed at Create().
  bool serves_tls = false;
  // The TLS context new connections get, swapped by HttpServer::ReloadTls;
  // null without TLS. Set by HttpServer::Create before any I/O thread runs.
  std::unique_ptr<TlsContextHolder> tls;

  // Guards get_routes.
  mutable std::mutex routes_mu;
  // Extra GET routes by exact path. Guarded by routes_mu.
  std::map<std::string, QueryRouteHandler, std::less<>> get_routes;

  // Guards sessions.
  mutable std::mutex sessions_mu;
  // Every session alive, for draining. Guarded by sessions_mu.
  std::unordered_map<const Connection*, std::weak_ptr<Connection>> sessions;

  // Sessions serving requests, counted against max_connections.
  std::atomic<std::size_t> open_connections{0};
  // Sessions answering 503 because the server was full; bounded separately.
  std::atomic<std::size_t> rejecting_connections{0};
  // What requests in flight count against max_inflight_bytes; shared with
  // a gRPC front end (HttpServer::shared()). Never null.
  const std::shared_ptr<InflightBudget> inflight;
  // Set by Stop(): readiness turns false, new requests get 503 and
  // connections close after their current response.
  std::atomic<bool> draining{false};

  // Runs every asynchronous operation of the server. Declared last: see above.
  boost::asio::io_context io;
};

}  // namespace mlship::serving::internal
