// NameThread: pthread_setname_np with Linux's 15-byte limit applied.
#include "mlship/thread_name.h"

#include <pthread.h>

namespace mlship {

namespace {
// Linux's TASK_COMM_LEN is 16 bytes, the terminating NUL included;
// pthread_setname_np fails with ERANGE on anything longer.
constexpr std::size_t kMaxNameBytes = 15;
}  // namespace

void NameThread(std::thread& thread, std::string_view name) {
  const std::string cut(name.substr(0, kMaxNameBytes));
  pthread_setname_np(thread.native_handle(), cut.c_str());
}

std::string ThisThreadName() {
  char buf[kMaxNameBytes + 1] = {};
  if (pthread_getname_np(pthread_self(), buf, sizeof(buf)) != 0) return std::string();
  return std::string(buf);
}

}  // namespace mlship
