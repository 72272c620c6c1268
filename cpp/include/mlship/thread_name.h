// Names for mlship's own threads, so `top -H`, `ps -L`, gdb, perf and py-spy
// tell a batcher from a worker from an HTTP I/O thread.
#pragma once

#include <string>
#include <string_view>
#include <thread>

namespace mlship {

// Names `thread` `name` (Linux: /proc/<pid>/task/<tid>/comm). Called by the
// thread that started it, right after, so the name is there before anyone
// can look. Linux keeps at most 15 bytes; a longer name is cut to its first
// 15. Best effort: naming never fails a caller, so errors are ignored. Only
// for threads mlship started, never a caller's.
void NameThread(std::thread& thread, std::string_view name);

// The calling thread's name (for tests).
std::string ThisThreadName();

}  // namespace mlship
