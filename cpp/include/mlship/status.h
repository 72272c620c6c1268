// Status: the result of an operation that can fail, cheap on success.
//
// Every fallible C++ function in mlship returns a Status or a StatusOr<T>.
// Codes map one-to-one to HTTP status codes and Python exception classes
// (see status_code_table in status.cc and python/mlship/_errors.py).
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace mlship {

enum class StatusCode : int {
  kOk = 0,
  kInvalidArgument = 1,     // the caller sent something malformed (HTTP 400)
  kNotFound = 2,            // no such model, version or file (HTTP 404)
  kUnavailable = 3,         // overloaded or draining; retry later (HTTP 503)
  kDeadlineExceeded = 4,    // the request's deadline passed (HTTP 504)
  kUnauthenticated = 5,     // bad or missing token (HTTP 401)
  kFailedPrecondition = 6,  // the system is not in a state to do this (HTTP 409)
  kInternal = 7,            // a bug in mlship (HTTP 500)
  kModelLoadFailed = 8,     // a model file could not be loaded (HTTP 500)
  kInferenceFailed = 9,     // the model's forward raised (HTTP 500)
  kResourceExhausted = 10,  // a size limit was exceeded (HTTP 413)
};

// Returns a stable lower-case name for the code, e.g. "invalid_argument".
std::string_view StatusCodeName(StatusCode code);

// The HTTP status that a response with this code carries.
int HttpStatusFor(StatusCode code);

class [[nodiscard]] Status {
 public:
  // An OK status. Costs one null pointer.
  Status() = default;
  Status(StatusCode code, std::string message);

  static Status Ok() { return Status(); }
  static Status InvalidArgument(std::string msg) { return {StatusCode::kInvalidArgument, std::move(msg)}; }
  static Status NotFound(std::string msg) { return {StatusCode::kNotFound, std::move(msg)}; }
  static Status Unavailable(std::string msg) { return {StatusCode::kUnavailable, std::move(msg)}; }
  static Status DeadlineExceeded(std::string msg) { return {StatusCode::kDeadlineExceeded, std::move(msg)}; }
  static Status Unauthenticated(std::string msg) { return {StatusCode::kUnauthenticated, std::move(msg)}; }
  static Status FailedPrecondition(std::string msg) { return {StatusCode::kFailedPrecondition, std::move(msg)}; }
  static Status Internal(std::string msg) { return {StatusCode::kInternal, std::move(msg)}; }
  static Status ModelLoadFailed(std::string msg) { return {StatusCode::kModelLoadFailed, std::move(msg)}; }
  static Status InferenceFailed(std::string msg) { return {StatusCode::kInferenceFailed, std::move(msg)}; }
  static Status ResourceExhausted(std::string msg) { return {StatusCode::kResourceExhausted, std::move(msg)}; }

  bool ok() const { return state_ == nullptr; }
  StatusCode code() const { return ok() ? StatusCode::kOk : state_->code; }
  // Empty when ok().
  const std::string& message() const;
  // "invalid_argument: <message>" or "ok".
  std::string ToString() const;

  bool IsInvalidArgument() const { return code() == StatusCode::kInvalidArgument; }
  bool IsNotFound() const { return code() == StatusCode::kNotFound; }
  bool IsUnavailable() const { return code() == StatusCode::kUnavailable; }

 private:
  struct State {
    StatusCode code;
    std::string message;
  };
  // Null on success, so an OK Status is one pointer and no allocation.
  std::shared_ptr<const State> state_;
};

// Either a value or a non-OK Status.
template <typename T>
class [[nodiscard]] StatusOr {
 public:
  StatusOr(T value) : value_(std::move(value)) {}  // NOLINT: implicit by design
  StatusOr(Status status) : status_(std::move(status)) {  // NOLINT
    if (status_.ok()) status_ = Status::Internal("StatusOr constructed from an OK status without a value");
  }

  bool ok() const { return status_.ok(); }
  const Status& status() const { return status_; }
  T& value() & { return *value_; }
  const T& value() const& { return *value_; }
  T&& value() && { return std::move(*value_); }
  T* operator->() { return &*value_; }
  const T* operator->() const { return &*value_; }
  T& operator*() & { return *value_; }
  const T& operator*() const& { return *value_; }

 private:
  Status status_;
  std::optional<T> value_;
};

}  // namespace mlship

#define MLSHIP_CONCAT_INNER_(a, b) a##b
#define MLSHIP_CONCAT_(a, b) MLSHIP_CONCAT_INNER_(a, b)

// Returns from the enclosing function if `expr` yields a non-OK Status.
#define RETURN_IF_ERROR(expr)                            \
  do {                                                   \
    ::mlship::Status mlship_status_ = (expr);            \
    if (!mlship_status_.ok()) return mlship_status_;     \
  } while (0)

// `ASSIGN_OR_RETURN(auto x, MakeX());` binds x or returns the error.
#define ASSIGN_OR_RETURN(lhs, expr) \
  ASSIGN_OR_RETURN_IMPL_(MLSHIP_CONCAT_(mlship_statusor_, __LINE__), lhs, expr)
#define ASSIGN_OR_RETURN_IMPL_(tmp, lhs, expr) \
  auto tmp = (expr);                           \
  if (!tmp.ok()) return tmp.status();          \
  lhs = std::move(tmp).value()
