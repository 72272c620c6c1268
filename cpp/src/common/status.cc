// Status codes, their names and the HTTP status and gRPC code each maps to.
#include "mlship/status.h"
#include "mlship/status_grpc.h"

namespace mlship {
namespace {

struct CodeInfo {
  StatusCode code;
  std::string_view name;
  int http;
  // The gRPC status code (grpc::StatusCode's value; the gRPC front end
  // casts it), so both front ends answer one error the same way.
  int grpc;
};

// The one table that maps codes to names, HTTP statuses and gRPC codes. The Python side
// keys its exception classes on the same names (python/mlship/_errors.py).
constexpr CodeInfo kCodeTable[] = {
    {StatusCode::kOk, "ok", 200, 0},
    {StatusCode::kInvalidArgument, "invalid_argument", 400, 3},
    {StatusCode::kNotFound, "not_found", 404, 5},
    {StatusCode::kUnavailable, "unavailable", 503, 14},
    {StatusCode::kDeadlineExceeded, "deadline_exceeded", 504, 4},
    {StatusCode::kUnauthenticated, "unauthenticated", 401, 16},
    {StatusCode::kFailedPrecondition, "failed_precondition", 409, 9},
    {StatusCode::kInternal, "internal", 500, 13},
    {StatusCode::kModelLoadFailed, "model_load_failed", 500, 13},
    {StatusCode::kInferenceFailed, "inference_failed", 500, 13},
    {StatusCode::kResourceExhausted, "resource_exhausted", 413, 8},
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
int GrpcCodeFor(StatusCode code) { return Lookup(code).grpc; }

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
