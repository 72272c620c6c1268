// What the front ends on one Backend (HTTP and gRPC) share while they run:
// one budget of request bytes in flight and one audit log, so a client
// cannot double what the server holds by switching protocols, and an
// operator reads one file for both.
#pragma once

#include <atomic>
#include <cstddef>
#include <memory>

namespace mlship::serving {

namespace internal {
class AuditLog;
}  // namespace internal

// The bytes all requests in flight may hold together (max_inflight_bytes).
// Thread-safe.
class InflightBudget {
 public:
  // `budget` in bytes; 0 turns the budget off (every Take succeeds).
  explicit InflightBudget(std::size_t budget) : budget_(budget) {}

  // What a request whose body is `body_bytes` counts: twice its body (the
  // body and the tensors decoded from it), capped at the budget so that
  // one request of any allowed size still runs alone (0 with no budget).
  std::size_t ChargeFor(std::size_t body_bytes) const {
    return body_bytes > budget_ / 2 ? budget_ : 2 * body_bytes;
  }
  // Takes `bytes`; false (nothing taken) when they would pass the budget.
  bool Take(std::size_t bytes) {
    if (budget_ == 0) return true;
    std::size_t held = held_.load();
    do {
      if (held + bytes > budget_) return false;
    } while (!held_.compare_exchange_weak(held, held + bytes));
    return true;
  }
  // Gives back what a Take took.
  void Give(std::size_t bytes) {
    if (budget_ != 0) held_.fetch_sub(bytes);
  }

  std::size_t budget() const { return budget_; }
  std::size_t held() const { return held_.load(); }

 private:
  const std::size_t budget_;
  std::atomic<std::size_t> held_{0};
};

// Made by HttpServer::Create (HttpServer::shared()) and handed to
// GrpcServer::Create; a front end made without one makes its own.
struct FrontEndShared {
  // Never null once a server holds it.
  std::shared_ptr<InflightBudget> inflight;
  // Null when no audit_log is configured. Its writer is started and stopped
  // by the server that made it.
  std::shared_ptr<internal::AuditLog> audit;
};

}  // namespace mlship::serving
