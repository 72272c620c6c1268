// POST /v2/repository/index, /v2/repository/models/{name}/load and /unload:
// the KServe v2 (Triton) model-repository extension.
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>
#include <boost/json.hpp>

#include <atomic>

#include "request_handler.h"

namespace mlship::serving::internal {
namespace asio = boost::asio;
namespace json = boost::json;

namespace {

// Keeps the connection, the state and the I/O threads alive until the
// control answers a load or unload, then posts the answer to the strand.
class PendingControl : public std::enable_shared_from_this<PendingControl> {
 public:
  PendingControl(std::shared_ptr<ServerState> state, std::shared_ptr<Responder> responder)
      : state_(std::move(state)), work_(asio::make_work_guard(state_->io)), responder_(std::move(responder)) {}
  ~PendingControl() {
    if (!done_.exchange(true)) Post(Status::Internal("the server dropped the request without answering"));
  }
  void Complete(const Status& status) {
    if (done_.exchange(true)) return;
    Post(status.ok() ? StatusOr<std::string>(std::string()) : StatusOr<std::string>(status));
  }
  // A JSON body for success (rollouts answer with their status).
  void CompleteWith(StatusOr<std::string> body) {
    if (done_.exchange(true)) return;
    Post(std::move(body));
  }

 private:
  void Post(StatusOr<std::string> result) {
    asio::post(responder_->executor(), [responder = responder_, result = std::move(result)] {
      if (!result.ok()) return responder->Respond(ErrorResponse(result.status()));
      // The extension answers load and unload with an empty body.
      responder->Respond(JsonResponse(http::status::ok, *result));
    });
  }

  std::shared_ptr<ServerState> state_;
  asio::executor_work_guard<asio::io_context::executor_type> work_;
  std::shared_ptr<Responder> responder_;
  std::atomic<bool> done_{false};
};

// The request body: empty, or a JSON object (index: {"ready": bool}; load
// and unload: {"parameters": {...}}, which mlship does not use).
StatusOr<json::object> ParseControlBody(std::string_view body, const CodecLimits& limits) {
  if (body.find_first_not_of(" \t\r\n") == std::string_view::npos) return json::object();
  json::error_code ec;
  json::parse_options options;
  options.max_depth = limits.max_json_depth;
  json::value v = json::parse(body, ec, {}, options);
  if (ec) return Status::InvalidArgument("the request body is not valid JSON: " + ec.message());
  if (!v.is_object()) return Status::InvalidArgument("the request body must be a JSON object");
  return std::move(v.get_object());
}

}  // namespace

void HandleRepository(ServerState& state, const Route& route, HttpRequest request,
                      std::shared_ptr<Responder> responder) {
  if (state.repository == nullptr) {
    return responder->Respond(ErrorResponse(404, "this server has no model repository"));
  }
  StatusOr<json::object> body = ParseControlBody(request.body(), state.options.codec);
  if (!body.ok()) return responder->Respond(ErrorResponse(body.status()));
  if (route.kind == RouteKind::kRepositoryIndex) {
    bool ready_only = false;
    if (const json::value* ready = body->if_contains("ready")) {
      if (!ready->is_bool()) return responder->Respond(ErrorResponse(400, "field 'ready' must be true or false"));
      ready_only = ready->get_bool();
    }
    json::array rows;
    for (const RepositoryIndexEntry& e : state.repository->RepositoryIndex(ready_only)) {
      json::object row{{"name", e.name}, {"state", e.state}, {"reason", e.reason}};
      if (!e.version.empty()) row["version"] = e.version;
      rows.push_back(std::move(row));
    }
    return responder->Respond(JsonResponse(http::status::ok, json::serialize(rows)));
  }
  if (state.draining.load() && route.action != "status") {
    return responder->Respond(ErrorResponse(503, "the server is shutting down"));
  }
  auto pending = std::make_shared<PendingControl>(state.shared_from_this(), std::move(responder));
  auto done = [pending](Status status) { pending->Complete(status); };
  try {
    if (route.kind == RouteKind::kRepositoryLoad) {
      state.repository->LoadModel(route.model, done);
    } else if (route.kind == RouteKind::kRepositoryUnload) {
      state.repository->UnloadModel(route.model, done);
    } else {
      state.repository->Rollout(route.model, route.action, std::string(request.body()),
                                [pending](StatusOr<std::string> status) { pending->CompleteWith(std::move(status)); });
    }
  } catch (...) {
    done(Status::Internal("the server failed to accept the request"));
  }
}

}  // namespace mlship::serving::internal
