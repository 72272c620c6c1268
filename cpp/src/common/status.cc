// Status codes, their names and the HTTP status each maps to.
#include "mlship/status.h"

namespace mlship {
namespace {

struct CodeInfo {
  StatusCode code;
  std::string_view name;
  int http;
};

// The one table that maps codes to names and HTTP statuses. The Python side
// keys its exception classes on the same names (python/mlship/_errors.py).
constexpr CodeInfo kCodeTable[] = {
    {StatusCode::kOk, "ok", 200},
    {StatusCode::kInvalidArgument, "invalid_argument", 400},
    {StatusCode::kNotFound, "not_found", 404},
    {StatusCode::kUnavailable, "unavailable", 503},
    {StatusCode::kDeadlineExceeded, "deadline_exceeded", 504},
    {StatusCode::kUnauthenticated, "unauthenticated", 401},
    {StatusCode::kFailedPrecondition, "failed_precondition", 409},
    {StatusCode::kInternal, "internal", 500},
    {StatusCode::kModelLoadFailed, "model_load_failed", 500},
    {StatusCode::kInferenceFailed, "inference_failed", 500},
    {StatusCode::kResourceExhausted, "resource_exhausted", 413},
};

const CodeInfo& Lookup(StatusCode code) {
  for (const auto& info : kCodeTable) {
    if (info.code == code) return info;
  }
  return kCodeTable[7];  // internal
}

}  // namespace

std::string_view StatusCodeName(StatusCode code) { return Lookup(code).name; }
int HttpStatusFor(StatusCode code) { return Lookup(code).http; }

Status::Status(StatusCode code, std::string message) {
  if (code != StatusCode::kOk) state_ = std::make_shared<const State>(State{code, std::move(message)});
}

const std::string& Status::message() const {
  static const std::string kEmpty;
  return ok() ? kEmpty : state_->message;
}

std::string Status::ToString() const {
  if (ok()) return "ok";
  return std::string(StatusCodeName(code())) + ": " + state_->message;
}

}  // namespace mlship
