// HttpServer: the KServe v2 / Open Inference Protocol REST server.
//
// Asynchronous (Boost.Beast over Asio): a few I/O threads serve every
// connection; no thread waits on an open request. Requests are decoded and
// checked on the I/O thread, handed to the Backend, and the Backend's answer
// is posted back to the connection that asked. Routes:
//
//   GET  /v2/health/live, /v2/health/ready        (no token needed)
//   GET  /v2                                      server metadata
//   GET  /v2/models/{name}[/versions/{v}]         model metadata
//   GET  /v2/models/{name}[/versions/{v}]/ready   model readiness
//   POST /v2/models/{name}[/versions/{v}]/infer   inference
//   POST /v2/repository/index                     repository index    (admin token)
//   POST /v2/repository/models/{name}/load        load a model        (admin token)
//   POST /v2/repository/models/{name}/unload      unload a model      (admin token)
//   GET  <extra routes added with AddGetRoute / AddQueryRoute>
//   GET  /dashboard/login, POST /dashboard/login, POST /dashboard/logout
//        (the dashboard's login: a cookie that opens the read scope on GET)
//
// Errors are always JSON {"error": "..."} with the HTTP status of the
// Status code (400, 401, 403, 404, 405, 413, 429, 431, 503, 504, 500); every
// 429 and 503 carries Retry-After. Messages are bounded (1 KiB), so a long
// name in a request is never echoed whole. Every infer response carries its
// request id in the mlship-request-id header; a 500 from the model says only
// that id unless expose_model_errors (see there).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "mlship/clock.h"
#include "mlship/serving/backend.h"
#include "mlship/serving/codec_limits.h"
#include "mlship/serving/front_end_shared.h"
#include "mlship/serving/repository_control.h"
#include "mlship/status.h"

namespace mlship::serving {

namespace internal {
class Listener;
struct ServerState;
}  // namespace internal

struct HttpServerOptions {
  // ---- Affects behaviour ----

  // The IP address to listen on ("localhost" means 127.0.0.1). Default
  // loopback only. Any other address (0.0.0.0, ::, a LAN address) needs a
  // token or allow_insecure_public_bind.
  std::string host = "127.0.0.1";
  // The TCP port. Default 8000; 0 picks a free port (read it with port()).
  uint16_t port = 8000;
  // The bearer token every request except the health probes must carry
  // ("Authorization: Bearer <token>"). Empty (the default) turns
  // authentication off, which is only allowed on loopback unless
  // allow_insecure_public_bind. Printable ASCII without spaces; use at least
  // 32 random characters.
  std::string token;
  // The bearer token of the repository endpoints (POST /v2/repository/...:
  // index, load, unload), which change what the server serves. It must differ
  // from `token`, so a client that may only infer cannot load or unload
  // models. Empty (the default) turns those endpoints off: they answer 403.
  // Same rules as `token`.
  std::string admin_token;
  // A file of scoped tokens, stored hashed (JSON Lines, one token a line:
  // {"name", "sha256", "scopes": ["infer","read","admin"], "rate_per_s",
  // "burst"}; `mlship token create` writes it; see docs/security.md). Its
  // tokens open what their scopes name: infer = POST infer and outcomes;
  // read = GET /v2, model metadata and readiness, /metrics, the dashboard
  // and other extra routes; admin = the repository endpoints (load, unload,
  // index, rollouts). A token without the scope a route needs gets 403;
  // one over its rate limit gets 429 with Retry-After. Works beside `token`
  // and `admin_token`, and counts as a token for the non-loopback rule.
  // Read at Create(); HttpServer::ReloadTokens() re-reads it. Empty (the
  // default): none.
  std::string token_file;
  // TLS: the server's certificate chain (PEM: its certificate first, then
  // any intermediates) and its private key (PEM, unencrypted). Set both to
  // serve HTTPS only (a plain HTTP request gets 400 saying to use https);
  // set neither (the default) for plain HTTP. TLS 1.2 and 1.3 only (no SSL,
  // TLS 1.0 or 1.1), forward-secret AEAD ciphers, no compression or
  // renegotiation. Read at Create() (an unreadable or mismatched file fails
  // it); HttpServer::ReloadTls() re-reads them for new connections.
  std::string tls_cert;
  std::string tls_key;
  // CA certificates (PEM) that clients' certificates must chain to: set,
  // every client must present one during the handshake (mutual TLS) or the
  // connection is refused. Needs tls_cert. Empty (the default): clients are
  // not asked for a certificate.
  std::string tls_client_ca;
  // A rate limit for `token`: sustained requests per second (token bucket),
  // beyond which requests get 429 with Retry-After. 0 (the default): none.
  // File tokens carry their own (rate_per_s, burst).
  double rate_limit_per_s = 0;
  // The bucket size of that limit: requests `token` may make at once.
  // 0 (the default): max(1, rate_limit_per_s).
  double rate_limit_burst = 0;
  // How long a dashboard login (the mlship_session cookie set by POST
  // /dashboard/login) lasts. Default 12 h.
  std::chrono::seconds dashboard_session_ttl{std::chrono::hours(12)};
  // Most dashboard logins held at once; a new one beyond it ends the oldest.
  // Default 256.
  std::size_t max_dashboard_sessions = 256;
  // The clock of rate limits and login expiry. Default (null): the real
  // steady clock. Not owned; must outlive the server. Tests pass a FakeClock.
  Clock* clock = nullptr;
  // Set to serve on a non-loopback address without a token. Default false;
  // leave it so except on a network you trust completely.
  bool allow_insecure_public_bind = false;
  // Host names (the Host header without its port; "*" for any) served
  // besides the loopback names. On a loopback address the server answers
  // only localhost, 127.0.0.1, [::1] and these, so a web page reaching it
  // through DNS rebinding (under its own name) is refused with 403; on any
  // other address, when set, only these. Empty (the default): loopback
  // names only on loopback, no check elsewhere. The health probes are never
  // checked. E.g. {"mlship.internal"}.
  std::vector<std::string> allowed_hosts;
  // Web origins ("https://app.example.com", exact) whose pages may call the
  // server from a browser: their requests pass the Origin check and their
  // responses carry Access-Control-Allow-Origin. Requests with any other
  // Origin header get 403, except the server's own origin where the Host is
  // checked. Empty (the default): no other site.
  std::vector<std::string> allowed_origins;
  // Deadline given to the Backend with each inference request, counted from
  // when the request was decoded. Zero (the default) sets no deadline.
  std::chrono::milliseconds request_timeout{0};

  // ---- Audit log and error text ----

  // Path of the audit log: one JSON object per line (time, remote, who,
  // action, method, path, status, detail) for every control action
  // (repository index/load/unload, rollouts), authentication failure (401,
  // 403) and refused request (413, 431, 503 over the byte budget or the
  // connection limit, 400 malformed HTTP, and other refusals made before a
  // request is read). Never holds tokens, Authorization or Cookie headers,
  // bodies or tensors. Written by its own thread from a bounded queue, so a
  // slow disk never stalls requests (events beyond the queue are dropped and
  // counted in the log). Empty (the default): no audit log. A path that
  // cannot be opened fails Create().
  std::string audit_log;
  // The audit log is rotated (FILE -> FILE.1 -> ... FILE.audit_log_keep)
  // before a line would make it larger than this. Default 10 MiB; at least
  // 1024.
  std::size_t audit_log_max_bytes = std::size_t{10} << 20;
  // Rotated audit log files kept; 0 keeps none. Default 5; range 0..100.
  int audit_log_keep = 5;
  // When false (the default), a request the model fails on (HTTP 500: the
  // model raised, or the server could not use its answer) gets a generic
  // message with its request id, and the full text goes to the server log
  // (error_log) beside the same id: exception text can reveal paths, code
  // and data. True sends the text itself (plus the id) to the client.
  // Errors about the request (400, 404, 413...) are always sent.
  bool expose_model_errors = false;
  // Where the server logs the full text of errors it keeps from clients,
  // one line per call (no trailing newline). Default (null): standard error.
  std::function<void(std::string_view line)> error_log;
  // The clock stamped on audit events. Default (null): the system clock.
  // Tests set a fixed time.
  std::function<std::chrono::system_clock::time_point()> wall_clock;

  // ---- Limits: they bound what one client can make the server hold ----

  // Largest request body accepted; larger requests get 413 before their body
  // is read. Default 64 MiB; it also bounds the JSON a request can make the
  // server parse (roughly 16 bytes of memory per JSON number).
  std::size_t max_body_bytes = std::size_t{64} << 20;
  // Largest request line plus headers accepted; larger get 431. Default
  // 16 KiB; most users should leave this alone.
  std::size_t max_header_bytes = std::size_t{16} << 10;
  // Most connections open at once. Connections beyond it are answered 503
  // and closed (beyond it by more than 64, closed without an answer).
  // Default 1024; keep it under the process's open-file limit.
  std::size_t max_connections = 1024;
  // Most bytes all requests in flight may hold together, so that
  // connections x body size cannot exhaust the machine. Each request counts
  // twice its Content-Length (the body and the tensors decoded from it; a
  // chunked body counts as max_body_bytes) from its header until it is
  // answered, capped at this budget (so one request of any
  // allowed size still runs alone). Beyond it new requests get 503 with
  // Retry-After. Default 512 MiB, which fits a small container; 0 turns the
  // budget off.
  std::size_t max_inflight_bytes = std::size_t{512} << 20;
  // How long a connection may sit idle between requests (keep-alive), and
  // the longest a single read or write of one request may take. Default 60 s.
  std::chrono::milliseconds idle_timeout{std::chrono::seconds(60)};
  // How long Stop() waits for requests in flight before it abandons them.
  // Default 30 s.
  std::chrono::milliseconds drain_timeout{std::chrono::seconds(30)};
  // Bounds on request JSON and tensors (depth, elements per tensor, id).
  CodecLimits codec;

  // ---- Affects performance ----

  // Threads running network I/O, parsing and encoding; inference runs in
  // the Backend, not here. Default 2, which serves thousands of requests a
  // second; raise it only when the I/O threads are busy. Range 1..256.
  int io_threads = 2;
};

// Checks `options` and says what is wrong, with the value. Create() calls
// it; callers may call it earlier to report mistakes before building a
// Backend.
Status ValidateHttpServerOptions(const HttpServerOptions& options);

// The response of an extra GET route.
struct HttpContent {
  // The response body.
  std::string body;
  // Its Content-Type header.
  std::string content_type = "text/plain; charset=utf-8";
};

// Produces an extra route's response; runs on an I/O thread, so it must be
// quick. An error Status becomes the matching HTTP error.
using GetRouteHandler = std::function<StatusOr<HttpContent>()>;
// The same, given the request's query string (the text after '?', possibly
// empty), e.g. /dashboard/data?model=digits. Untrusted: parse with care.
using QueryRouteHandler = std::function<StatusOr<HttpContent>(std::string_view query)>;

// The server. Create() binds the port; Start() starts serving; Stop() (or
// the destructor) drains and stops. Create, Start, Stop and the destructor
// must be called from one thread at a time; port() and AddGetRoute are safe
// from any thread.
class HttpServer {
 public:
  // Validates `options` and binds the listening socket (so port() is known
  // and "address in use" is reported here). `backend` must outlive the
  // server and every request handed to it; so must `repository` (may be
  // null: the repository endpoints then answer 404), which answers the
  // repository endpoints when options.admin_token is set.
  static StatusOr<std::unique_ptr<HttpServer>> Create(const HttpServerOptions& options, Backend* backend,
                                                      RepositoryControl* repository = nullptr);

  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;
  // Calls Stop().
  ~HttpServer();

  // Serves `handler`'s response for GET `path` (exact match, query string
  // ignored), e.g. /metrics. The token applies as for every non-health
  // route. Paths under /v2 are reserved; adding a path twice is an error.
  // May be called before or after Start().
  Status AddGetRoute(const std::string& path, GetRouteHandler handler);
  // AddGetRoute for a handler that reads the query string.
  Status AddQueryRoute(const std::string& path, QueryRouteHandler handler);

  // Re-reads options.token_file. On success the new set replaces the old
  // at once (rate-limit state carries over for tokens in both, dashboard
  // logins of removed tokens stop working); on error (unreadable file, a
  // bad line) the old set stays and the error says what is wrong.
  // FailedPrecondition when the server has no token_file. Safe from any
  // thread.
  Status ReloadTokens();

  // Re-reads options.tls_cert, tls_key and tls_client_ca. On success new
  // connections use them at once (connections already open keep theirs);
  // on error (unreadable file, a key that does not match) the old ones stay
  // and the error says what is wrong. FailedPrecondition when the server
  // does not serve TLS. Safe from any thread.
  Status ReloadTls();

  // What SIGHUP does: ReloadTls() when TLS is on and ReloadTokens() when
  // there is a token file, both tried even if one fails. Ok when nothing
  // is configured to reload; otherwise the first error, naming which part
  // failed. `done` (optional) gets what was reloaded, e.g. "TLS certificate,
  // token file".
  Status Reload(std::string* done = nullptr);

  // Whether the server serves HTTPS (options.tls_cert is set).
  bool serves_tls() const;

  // Its in-flight byte budget and audit log, for a gRPC front end on the
  // same Backend (GrpcServer::Create) to count and record against.
  FrontEndShared shared() const;

  // Starts the I/O threads and accepts connections. FailedPrecondition when
  // called twice or after Stop().
  Status Start();

  // The port actually bound (the chosen one when options.port was 0).
  uint16_t port() const { return port_; }

  // Stops accepting, closes idle connections, lets requests in flight finish
  // (up to drain_timeout; meanwhile readiness reports false, requests that
  // arrive on open connections get 503, and each connection closes after
  // its response) and joins the I/O threads. Idempotent. Must not be called
  // from an I/O thread (a GetRouteHandler or a Backend method it calls).
  void Stop();

 private:
  HttpServer(std::shared_ptr<internal::ServerState> state, std::shared_ptr<internal::Listener> listener);

  // Runs the I/O context on one thread until it runs out of work or stops.
  void RunIoThread();

  // What the I/O threads and the Backend callbacks share; outlives the
  // server while the Backend still holds requests.
  std::shared_ptr<internal::ServerState> state_;
  // Accepts connections. Destroyed before state_ (declared after it).
  std::shared_ptr<internal::Listener> listener_;
  // The bound port.
  uint16_t port_ = 0;
  // The server's lifecycle; touched only by the controlling thread.
  enum class Phase { kCreated, kRunning, kStopped } phase_ = Phase::kCreated;
  // Opaque: owns the I/O threads and the work guard (keeps Beast out of
  // this header).
  struct Threads;
  std::unique_ptr<Threads> threads_;
};

}  // namespace mlship::serving
