// HttpServer: creation, the I/O threads, and the drain on Stop().
#include "mlship/serving/http_server.h"

#include <condition_variable>
#include <mutex>
#include <optional>
#include <thread>
#include <utility>
#include <vector>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/ip/address.hpp>

#include "listener.h"
#include "mlship/thread_name.h"
#include "server_state.h"
#include "session.h"
#include "tls_context.h"

namespace mlship::serving {
namespace asio = boost::asio;

// The I/O threads, and what Stop() waits on.
struct HttpServer::Threads {
  // The running threads; joined by Stop().
  std::vector<std::thread> threads;
  // Keeps io.run() from returning while the server runs with no connection.
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work;
  // Guards running.
  std::mutex running_mu;
  // Signalled when a thread's io.run() returns.
  std::condition_variable thread_finished;
  // Threads still inside io.run(). Guarded by running_mu.
  int running = 0;
};

StatusOr<std::unique_ptr<HttpServer>> HttpServer::Create(const HttpServerOptions& options, Backend* backend,
                                                         RepositoryControl* repository) {
  if (backend == nullptr) return Status::InvalidArgument("the server needs a Backend; got null");
  RETURN_IF_ERROR(ValidateHttpServerOptions(options));
  auto state = std::make_shared<internal::ServerState>(options, backend, repository);
  if (!options.audit_log.empty()) {
    internal::AuditLogOptions audit;
    audit.path = options.audit_log;
    audit.max_bytes = options.audit_log_max_bytes;
    audit.keep = options.audit_log_keep;
    audit.now = options.wall_clock;
    ASSIGN_OR_RETURN(state->audit, internal::AuditLog::Open(std::move(audit)));
  }
  RETURN_IF_ERROR(state->tokens.Load());
  if (!options.tls_cert.empty()) {
    state->tls = std::make_unique<internal::TlsContextHolder>(options.tls_cert, options.tls_key, options.tls_client_ca);
    RETURN_IF_ERROR(state->tls->Load());
    state->serves_tls = true;
  }
  const std::string host = options.host == "localhost" ? "127.0.0.1" : options.host;
  const asio::ip::tcp::endpoint endpoint(asio::ip::make_address(host), options.port);
  ASSIGN_OR_RETURN(std::shared_ptr<internal::Listener> listener, internal::Listener::Bind(*state, endpoint));
  return std::unique_ptr<HttpServer>(new HttpServer(std::move(state), std::move(listener)));
}

HttpServer::HttpServer(std::shared_ptr<internal::ServerState> state, std::shared_ptr<internal::Listener> listener)
    : state_(std::move(state)),
      listener_(std::move(listener)),
      port_(listener_->port()),
      threads_(std::make_unique<Threads>()) {}

HttpServer::~HttpServer() { Stop(); }

Status HttpServer::AddGetRoute(const std::string& path, GetRouteHandler handler) {
  if (!handler) return state_->AddGetRoute(path, nullptr);
  return state_->AddGetRoute(path, [handler = std::move(handler)](std::string_view) { return handler(); });
}

Status HttpServer::AddQueryRoute(const std::string& path, QueryRouteHandler handler) {
  return state_->AddGetRoute(path, std::move(handler));
}

Status HttpServer::ReloadTokens() { return state_->tokens.Reload(); }

Status HttpServer::ReloadTls() {
  if (!state_->tls) return Status::FailedPrecondition("this server does not serve TLS (no tls_cert), so it has no "
                                                      "certificate to reload");
  return state_->tls->Load();
}

Status HttpServer::Reload(std::string* done) {
  Status first = Status::Ok();
  std::string reloaded;
  const auto attempt = [&](const char* what, Status status) {
    if (status.ok()) {
      reloaded += (reloaded.empty() ? "" : ", ") + std::string(what);
    } else if (first.ok()) {
      first = Status(status.code(), std::string(what) + ": " + status.message());
    }
  };
  if (state_->tls) attempt("TLS certificate", ReloadTls());
  if (!state_->options.token_file.empty()) attempt("token file", ReloadTokens());
  if (done) *done = reloaded;
  return first;
}

bool HttpServer::serves_tls() const { return state_->serves_tls; }

FrontEndShared HttpServer::shared() const { return {state_->inflight, state_->audit}; }

Status HttpServer::Start() {
  if (phase_ != Phase::kCreated) {
    return Status::FailedPrecondition(phase_ == Phase::kRunning
                                          ? "the server is already running"
                                          : "a stopped server cannot start again; create a new one");
  }
  phase_ = Phase::kRunning;
  threads_->work.emplace(asio::make_work_guard(state_->io));
  if (state_->audit) state_->audit->Start();
  listener_->Start();
  threads_->running = state_->options.io_threads;
  for (int i = 0; i < state_->options.io_threads; ++i) {
    threads_->threads.emplace_back([this] { RunIoThread(); });
    NameThread(threads_->threads.back(), "mlship-http");
  }
  return Status::Ok();
}

void HttpServer::RunIoThread() {
  // Handlers catch what they can; anything escaping is a bug that must not
  // take the process down with it, so the thread goes back to serving.
  while (true) {
    try {
      state_->io.run();
      break;
    } catch (...) {
    }
  }
  std::lock_guard<std::mutex> lock(threads_->running_mu);
  --threads_->running;
  threads_->thread_finished.notify_all();
}

void HttpServer::Stop() {
  if (phase_ == Phase::kStopped) return;
  if (phase_ == Phase::kCreated) {
    listener_->CloseWithoutThreads();
    if (state_->audit) state_->audit->Stop();
    phase_ = Phase::kStopped;
    return;
  }
  phase_ = Phase::kStopped;
  state_->draining.store(true);
  listener_->Stop();
  for (const auto& session : state_->LiveSessions()) session->Drain();
  threads_->work.reset();
  {
    // io.run() returns once nothing is left to do: no connection open and
    // no request in the Backend's hands (each holds work on the io_context).
    std::unique_lock<std::mutex> lock(threads_->running_mu);
    const bool drained = threads_->thread_finished.wait_for(lock, state_->options.drain_timeout,
                                                           [this] { return threads_->running == 0; });
    if (!drained) state_->io.stop();  // abandon what is still in flight
  }
  for (std::thread& thread : threads_->threads) thread.join();
  threads_->threads.clear();
  // Every event of the requests answered is queued by now: write them out.
  if (state_->audit) state_->audit->Stop();
}

}  // namespace mlship::serving
