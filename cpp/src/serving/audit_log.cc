// The audit log's queue, writer thread, JSON lines and rotation.
#include "audit_log.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <utility>

#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>

#include "mlship/thread_name.h"

namespace mlship::serving::internal {
namespace json = boost::json;

namespace {

// Bounds on what one line holds, so a flood of huge requests cannot make
// the queue large: with them an event is well under 1 KiB.
constexpr std::size_t kMaxPathBytes = 256;
constexpr std::size_t kMaxMethodBytes = 16;
constexpr std::size_t kMaxWhoBytes = 64;
constexpr std::size_t kMaxRemoteBytes = 64;
constexpr std::size_t kMaxActionBytes = 64;
constexpr std::size_t kMaxDetailBytes = 240;

// Cuts `text` to one byte past `max_bytes`: enough for LogSafe to see that
// it was cut, and the queue holds bounded events whatever the client sent.
void Bound(std::string& text, std::size_t max_bytes) {
  if (text.size() > max_bytes + 1) {
    text.resize(max_bytes + 1);
    text.shrink_to_fit();
  }
}

int OpenForAppend(const std::string& path) {
  return ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
}

std::string Line(std::chrono::system_clock::time_point time, const AuditEvent& e) {
  json::object row;
  row["time"] = Iso8601Utc(time);
  row["remote"] = LogSafe(e.remote, kMaxRemoteBytes);
  row["who"] = LogSafe(e.who, kMaxWhoBytes);
  row["action"] = LogSafe(e.action, kMaxActionBytes);
  row["method"] = LogSafe(e.method, kMaxMethodBytes);
  row["path"] = LogSafe(e.path, kMaxPathBytes);
  row["status"] = e.status;
  row["detail"] = LogSafe(e.detail, kMaxDetailBytes);
  std::string line = json::serialize(row);
  line += '\n';
  return line;
}

}  // namespace

std::string LogSafe(std::string_view text, std::size_t max_bytes) {
  static const char* kHex = "0123456789ABCDEF";
  const bool cut = text.size() > max_bytes;
  if (cut) text = text.substr(0, max_bytes);
  std::string out;
  out.reserve(text.size() + (cut ? 3 : 0));
  for (const char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte < 0x20 || byte >= 0x7f) {
      out += '%';
      out += kHex[byte >> 4];
      out += kHex[byte & 15];
    } else {
      out += c;
    }
  }
  if (cut) out += "...";
  return out;
}

std::string Iso8601Utc(std::chrono::system_clock::time_point time) {
  const auto since_epoch = time.time_since_epoch();
  const auto seconds = std::chrono::floor<std::chrono::seconds>(since_epoch);
  const auto millis = std::chrono::duration_cast<std::chrono::milliseconds>(since_epoch - seconds).count();
  const std::time_t t = static_cast<std::time_t>(seconds.count());
  std::tm utc{};
  gmtime_r(&t, &utc);
  char text[96];
  std::snprintf(text, sizeof text, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", utc.tm_year + 1900, utc.tm_mon + 1,
                utc.tm_mday, utc.tm_hour, utc.tm_min, utc.tm_sec, static_cast<int>(millis));
  return text;
}

StatusOr<std::unique_ptr<AuditLog>> AuditLog::Open(AuditLogOptions options) {
  if (options.path.empty()) return Status::InvalidArgument("the audit log needs a path");
  const int fd = OpenForAppend(options.path);
  if (fd < 0) {
    return Status::FailedPrecondition("cannot open the audit log '" + options.path + "' for appending: " +
                                      std::strerror(errno) + "; check that its directory exists and is writable");
  }
  struct stat info{};
  const std::size_t size = ::fstat(fd, &info) == 0 ? static_cast<std::size_t>(info.st_size) : 0;
  return std::unique_ptr<AuditLog>(new AuditLog(std::move(options), fd, size));
}

AuditLog::AuditLog(AuditLogOptions options, int fd, std::size_t file_bytes)
    : options_(std::move(options)), fd_(fd), file_bytes_(file_bytes) {}

AuditLog::~AuditLog() { Stop(); }

void AuditLog::Start() {
  std::lock_guard<std::mutex> lock(mu_);
  if (writer_.joinable() || stopping_) return;
  writer_ = std::thread([this] { WriterLoop(); });
  NameThread(writer_, "mlship-audit");
}

void AuditLog::Record(AuditEvent event) {
  const auto time = options_.now ? options_.now() : std::chrono::system_clock::now();
  Bound(event.remote, kMaxRemoteBytes);
  Bound(event.who, kMaxWhoBytes);
  Bound(event.action, kMaxActionBytes);
  Bound(event.method, kMaxMethodBytes);
  Bound(event.path, kMaxPathBytes);
  Bound(event.detail, kMaxDetailBytes);
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopped_) return;
    if (queue_.size() >= options_.max_queued) {
      ++pending_drops_;
      dropped_.fetch_add(1);
      return;
    }
    queue_.push_back(Entry{time, std::move(event)});
  }
  changed_.notify_one();
}

void AuditLog::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopped_) return;
    stopping_ = true;
  }
  changed_.notify_all();
  if (writer_.joinable()) writer_.join();
  // Whatever is left (all of it when the writer never started).
  std::deque<Entry> rest;
  std::uint64_t drops = 0;
  {
    std::lock_guard<std::mutex> lock(mu_);
    rest.swap(queue_);
    drops = std::exchange(pending_drops_, 0);
    stopped_ = true;
  }
  WriteBatch(rest, drops);
  if (fd_ >= 0) {
    ::fsync(fd_);
    ::close(fd_);
    fd_ = -1;
  }
}

std::uint64_t AuditLog::dropped() const { return dropped_.load(); }
std::uint64_t AuditLog::write_errors() const { return write_errors_.load(); }

void AuditLog::WriterLoop() {
  std::deque<Entry> batch;
  while (true) {
    std::uint64_t drops = 0;
    {
      std::unique_lock<std::mutex> lock(mu_);
      changed_.wait(lock, [this] { return stopping_ || !queue_.empty() || pending_drops_ > 0; });
      if (stopping_) return;  // Stop() writes the rest
      batch.swap(queue_);
      drops = std::exchange(pending_drops_, 0);
    }
    WriteBatch(batch, drops);
    batch.clear();
  }
}

void AuditLog::WriteBatch(std::deque<Entry>& batch, std::uint64_t dropped) {
  for (const Entry& entry : batch) WriteLine(Line(entry.time, entry.event));
  if (dropped == 0) return;
  AuditEvent note;
  note.action = "audit.dropped";
  note.detail = std::to_string(dropped) + " audit events were dropped: the audit queue was full (" +
                std::to_string(options_.max_queued) + " events waiting for the disk)";
  const auto time = options_.now ? options_.now() : std::chrono::system_clock::now();
  std::string line = Line(time, note);
  // The count as a number too, for whoever parses the log.
  line.pop_back();  // '\n'
  line.pop_back();  // '}'
  line += ",\"dropped\":" + std::to_string(dropped) + "}\n";
  WriteLine(line);
}

void AuditLog::WriteLine(const std::string& line) {
  if (file_bytes_ > 0 && file_bytes_ + line.size() > options_.max_bytes) Rotate();
  if (fd_ < 0) {
    write_errors_.fetch_add(1);
    return;
  }
  std::size_t written = 0;
  while (written < line.size()) {
    const ssize_t n = ::write(fd_, line.data() + written, line.size() - written);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      if (write_errors_.fetch_add(1) == 0) {
        std::fprintf(stderr, "mlship: cannot write the audit log '%s': %s (further failures are counted, not shown)\n",
                     options_.path.c_str(), std::strerror(errno));
      }
      return;
    }
    written += static_cast<std::size_t>(n);
  }
  file_bytes_ += line.size();
}

void AuditLog::Rotate() {
  if (fd_ >= 0) ::close(fd_);
  const std::string& path = options_.path;
  auto numbered = [&path](int i) { return path + "." + std::to_string(i); };
  if (options_.keep <= 0) {
    ::unlink(path.c_str());
  } else {
    ::unlink(numbered(options_.keep).c_str());
    for (int i = options_.keep - 1; i >= 1; --i) ::rename(numbered(i).c_str(), numbered(i + 1).c_str());
    ::rename(path.c_str(), numbered(1).c_str());
  }
  fd_ = OpenForAppend(path);
  file_bytes_ = 0;
  if (fd_ < 0 && write_errors_.fetch_add(1) == 0) {
    std::fprintf(stderr, "mlship: cannot reopen the audit log '%s' after rotating it: %s\n", path.c_str(),
                 std::strerror(errno));
  }
}

}  // namespace mlship::serving::internal
