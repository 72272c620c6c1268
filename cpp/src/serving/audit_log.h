// AuditLog: one JSON object per line for what an operator must be able to
// reconstruct after the fact: control actions (repository load, unload,
// index, rollouts), authentication failures and refused requests (internal).
//
//   {"time":"2026-12-02T15:45:06.123Z","remote":"10.0.0.7:51234","who":"admin_token",
//    "action":"repository.load","method":"POST","path":"/v2/repository/models/digits/load",
//    "status":200,"detail":"ok"}
//
// What never goes in: tokens, Authorization or Cookie headers, request
// bodies, tensors. Client-supplied strings (path, method) are bounded and
// their control and non-ASCII bytes escaped (%XX) before Boost.JSON
// serializes them, so a line is always one valid JSON object.
//
// Recording never waits for the disk: Record() puts the event on a bounded
// queue that one writer thread drains. When the queue is full the event is
// dropped and counted; the writer reports the count in the log itself (an
// "audit.dropped" line) once it catches up. The file is rotated when it
// would grow past max_bytes: FILE -> FILE.1 -> ... -> FILE.keep (the oldest
// is deleted).
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>

#include "mlship/status.h"

namespace mlship::serving::internal {

// One audited event. Every string is bounded when it is written.
struct AuditEvent {
  // The client's address, "ip:port" ("[v6]:port" for IPv6).
  std::string remote;
  // Who asked: "admin_token", "token" (the inference token) or "anonymous"
  // (no credential, or one that matched nothing). Never the token itself.
  std::string who;
  // What happened: "repository.load", "repository.unload",
  // "repository.index", "rollout.<action>", "auth.failed" or "refused".
  std::string action;
  // The request's method and path as the client sent them (empty when the
  // request line was never read).
  std::string method;
  std::string path;
  // The HTTP status answered.
  int status = 0;
  // A short reason (the error message answered, or "ok").
  std::string detail;
};

struct AuditLogOptions {
  // The file appended to; created (mode 0600) when missing. Required.
  std::string path;
  // The file is rotated before a line would make it larger than this.
  // Default 10 MiB.
  std::size_t max_bytes = std::size_t{10} << 20;
  // Rotated files kept (FILE.1 newest ... FILE.keep oldest); 0 keeps none
  // (the file restarts empty). Default 5.
  int keep = 5;
  // Events that may wait for the writer; beyond it they are dropped and
  // counted. Default 4096 (each event is under 1 KiB).
  std::size_t max_queued = 4096;
  // The time stamped on each event. Default (null): the system clock.
  std::function<std::chrono::system_clock::time_point()> now;
};

// Thread-safe: Record() may be called from any thread; Open, Start and Stop
// from one controlling thread.
class AuditLog {
 public:
  // Opens (or creates) options.path for appending. FailedPrecondition naming
  // the path and the system's reason when it cannot be opened.
  static StatusOr<std::unique_ptr<AuditLog>> Open(AuditLogOptions options);

  AuditLog(const AuditLog&) = delete;
  AuditLog& operator=(const AuditLog&) = delete;
  // Calls Stop().
  ~AuditLog();

  // Starts the writer thread. Events recorded before it wait in the queue.
  void Start();
  // Stamps `event` with the time and queues it; drops it (and counts the
  // drop) when max_queued events already wait. Never blocks on I/O; ignored
  // after Stop().
  void Record(AuditEvent event);
  // Writes everything queued (and the drop count), syncs the file and stops
  // the writer. Idempotent.
  void Stop();

  // Events dropped so far because the queue was full.
  std::uint64_t dropped() const;
  // Lines that could not be written (disk full, file gone) so far.
  std::uint64_t write_errors() const;

 private:
  // An event with its time stamp.
  struct Entry {
    std::chrono::system_clock::time_point time;
    AuditEvent event;
  };

  AuditLog(AuditLogOptions options, int fd, std::size_t file_bytes);

  // The writer thread: drains the queue until Stop().
  void WriterLoop();
  // Writes `batch` and, when `dropped` > 0, an audit.dropped line. Only the
  // writer (or Stop(), when no writer runs) calls it.
  void WriteBatch(std::deque<Entry>& batch, std::uint64_t dropped);
  // Appends one line, rotating first when it would pass max_bytes.
  void WriteLine(const std::string& line);
  // Renames FILE -> FILE.1 ... and reopens FILE empty.
  void Rotate();

  const AuditLogOptions options_;

  // Guards queue_, pending_drops_, stopping_ and stopped_.
  mutable std::mutex mu_;
  // Signalled when an event is queued or Stop() is called.
  std::condition_variable changed_;
  // Events waiting for the writer. Guarded by mu_.
  std::deque<Entry> queue_;
  // Drops not yet reported in the log. Guarded by mu_.
  std::uint64_t pending_drops_ = 0;
  // Set by Stop(): the writer finishes the queue and exits. Guarded by mu_.
  bool stopping_ = false;
  // Set once Stop() has written everything; Record() ignores events after.
  // Guarded by mu_.
  bool stopped_ = false;

  // Every drop so far.
  std::atomic<std::uint64_t> dropped_{0};
  // Every failed write so far.
  std::atomic<std::uint64_t> write_errors_{0};

  // The open file (-1 after a failed reopen) and its size. Touched only by
  // the writer (or by Stop() once the writer is joined).
  int fd_ = -1;
  std::size_t file_bytes_ = 0;

  // Drains the queue; joined by Stop().
  std::thread writer_;
};

// `text` cut to `max_bytes` (with "..." when cut) and made safe for a log
// line: bytes below 0x20, 0x7f and above are written as %XX, so a client
// cannot forge lines or break the file's encoding.
std::string LogSafe(std::string_view text, std::size_t max_bytes);

// "2026-12-02T15:45:06.123Z".
std::string Iso8601Utc(std::chrono::system_clock::time_point time);

}  // namespace mlship::serving::internal
