// The server's shared state: extra routes and the session registry.
#include "server_state.h"

#include <cstdio>
#include <utility>

#include "session.h"

namespace mlship::serving::internal {

ServerState::ServerState(const HttpServerOptions& server_options, Backend* model_backend,
                         RepositoryControl* repository_control)
    : options(server_options), backend(model_backend), repository(repository_control),
      tokens(server_options),
      inflight(std::make_shared<InflightBudget>(server_options.max_inflight_bytes)),
      io(server_options.io_threads) {}

Status ServerState::AddGetRoute(const std::string& path, QueryRouteHandler handler) {
  if (path.empty() || path.front() != '/' || path.find('?') != std::string::npos) {
    return Status::InvalidArgument("an extra route's path must start with '/' and hold no query; got '" + path + "'");
  }
  if (path == "/v2" || path.rfind("/v2/", 0) == 0) {
    return Status::InvalidArgument("paths under /v2 belong to the KServe v2 API; choose another path than '" + path +
                                   "'");
  }
  if (!handler) return Status::InvalidArgument("the handler for '" + path + "' is empty");
  std::lock_guard<std::mutex> lock(routes_mu);
  if (!get_routes.emplace(path, std::move(handler)).second) {
    return Status::FailedPrecondition("a GET route for '" + path + "' already exists");
  }
  return Status::Ok();
}

std::optional<QueryRouteHandler> ServerState::FindGetRoute(std::string_view path) const {
  std::lock_guard<std::mutex> lock(routes_mu);
  const auto it = get_routes.find(path);
  if (it == get_routes.end()) return std::nullopt;
  return it->second;
}

void ServerState::RegisterSession(const std::shared_ptr<Connection>& session) {
  std::lock_guard<std::mutex> lock(sessions_mu);
  sessions.emplace(session.get(), session);
}

void ServerState::UnregisterSession(const Connection* session) {
  std::lock_guard<std::mutex> lock(sessions_mu);
  sessions.erase(session);
}

std::vector<std::shared_ptr<Connection>> ServerState::LiveSessions() const {
  std::vector<std::shared_ptr<Connection>> live;
  std::lock_guard<std::mutex> lock(sessions_mu);
  for (const auto& [key, weak] : sessions) {
    if (auto session = weak.lock()) live.push_back(std::move(session));
  }
  return live;
}

void ServerState::LogError(std::string_view line) const {
  if (options.error_log) {
    try {
      options.error_log(line);
    } catch (...) {
      // A logging hook must not cost the client its answer.
    }
    return;
  }
  std::string text(line);
  text += '\n';
  // One call, so lines from several threads do not interleave.
  std::fwrite(text.data(), 1, text.size(), stderr);
}

}  // namespace mlship::serving::internal
