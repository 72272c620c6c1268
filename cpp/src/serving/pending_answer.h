// PendingAnswer: a request handed to the Backend, waiting for its result to
// be encoded and sent on its connection (infer and explain alike).
#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <utility>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>

#include "mlship/status.h"
#include "http_types.h"
#include "server_state.h"

namespace mlship::serving::internal {

// Holds what answering needs until the Backend calls back; the first
// Complete() wins, and a Backend that drops its callback without calling it
// still gets the client an answer (`dropped`, as a 500).
//
// `Encode` (called once, on the connection's strand, as
// HttpResponse(const ServerState&, StatusOr<Result>)) is a type parameter
// rather than a std::function so that what it captures costs no allocation
// of its own per request.
template <typename Result, typename Encode>
class PendingAnswer {
 public:
  PendingAnswer(std::shared_ptr<ServerState> state, std::shared_ptr<Responder> responder, Encode encode,
                std::string dropped)
      : state_(std::move(state)),
        work_(boost::asio::make_work_guard(state_->io)),
        responder_(std::move(responder)),
        encode_(std::move(encode)),
        dropped_(std::move(dropped)) {}
  PendingAnswer(const PendingAnswer&) = delete;
  PendingAnswer& operator=(const PendingAnswer&) = delete;
  ~PendingAnswer() {
    if (!completed_.exchange(true)) Post(Status::Internal(dropped_));
  }

  // Called by the Backend from any thread; the first call wins.
  void Complete(StatusOr<Result> result) {
    if (completed_.exchange(true)) return;
    Post(std::move(result));
  }

 private:
  // Posts the encoding and the response onto the connection's strand (once:
  // completed_ guards it, so encode_ may move). The
  // posted handler holds the connection but not the state, so a handler left
  // in a stopped io_context cannot keep that io_context alive forever; when
  // it runs, the io_context runs, so the state (which owns it) is alive.
  void Post(StatusOr<Result> result) {
    boost::asio::post(responder_->executor(), [responder = responder_, encode = std::move(encode_), raw_state = state_.get(),
                                               result = std::move(result)]() mutable {
      responder->Respond(encode(*raw_state, std::move(result)));
    });
  }

  // Keeps the io_context alive until this request is answered.
  std::shared_ptr<ServerState> state_;
  // Keeps the I/O threads running until this request is answered.
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work_;
  // The connection waiting for the answer.
  std::shared_ptr<Responder> responder_;
  Encode encode_;
  std::string dropped_;
  // Set by the first Complete() (or the destructor).
  std::atomic<bool> completed_{false};
};

}  // namespace mlship::serving::internal
