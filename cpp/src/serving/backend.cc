// Defaults of the Backend interface.
#include "mlship/serving/backend.h"
#include "mlship/serving/repository_control.h"

namespace mlship::serving {

Backend::~Backend() = default;

RepositoryControl::~RepositoryControl() = default;

void RepositoryControl::Rollout(std::string, std::string, std::string,
                                std::function<void(StatusOr<std::string>)> done) {
  done(Status::FailedPrecondition("this server does not run rollouts"));
}

bool Backend::Live() const { return true; }

bool Backend::Ready() const { return true; }

bool Backend::ModelReady(std::string_view name, std::string_view version) const { return Find(name, version).ok(); }

void Backend::RequestRefused(const RefusedRequest&) {}

std::string_view RefusalReasonFor(int http_status) {
  switch (http_status) {
    case 400: return StatusCodeName(StatusCode::kInvalidArgument);
    case 401: return StatusCodeName(StatusCode::kUnauthenticated);
    case 404: return StatusCodeName(StatusCode::kNotFound);
    case 403: return "forbidden";
    case 405: return "method_not_allowed";
    case 409: return StatusCodeName(StatusCode::kFailedPrecondition);
    case 413: return StatusCodeName(StatusCode::kResourceExhausted);
    case 415: return "unsupported_media_type";
    case 429: return "rate_limited";
    case 431: return "header_too_large";
    case 500: return StatusCodeName(StatusCode::kInternal);
    case 503: return StatusCodeName(StatusCode::kUnavailable);
    case 504: return StatusCodeName(StatusCode::kDeadlineExceeded);
    default: return "http_error";
  }
}

void Backend::Explain(ExplainRequest request, ExplainCallback done) {
  done(Status::FailedPrecondition("model '" + request.request.model_name.substr(0, 64) +
                                  "' is served without explanations"));
}

StatusOr<OutcomeCounts> Backend::RecordOutcomes(std::string_view name, const std::vector<std::string>&,
                                               const std::vector<std::vector<double>>&) {
  return Status::FailedPrecondition("model '" + std::string(name.substr(0, 64)) + "' does not track outcomes");
}

StatusOr<ModelConfigInfo> Backend::Config(std::string_view name, std::string_view) const {
  return Status::FailedPrecondition("this server does not report the configuration of model '" +
                                    std::string(name.substr(0, 64)) + "'");
}

StatusOr<std::vector<ModelStatistics>> Backend::Statistics(std::string_view, std::string_view) const {
  return Status::FailedPrecondition("this server keeps no model statistics");
}

}  // namespace mlship::serving
