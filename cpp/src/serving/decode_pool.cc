// The process-wide decode pool.
#include "decode_pool.h"

#include <thread>
#include <vector>

#include <boost/asio/executor_work_guard.hpp>

#include "mlship/thread_name.h"

namespace mlship::serving::internal {
namespace asio = boost::asio;

namespace {

constexpr int kDecodeThreads = 2;

struct Pool {
  Pool() : work(asio::make_work_guard(io)) {
    for (int i = 0; i < kDecodeThreads; ++i) {
      threads.emplace_back([this] {
        // A job's exception is a bug; the thread goes back to decoding.
        while (true) {
          try {
            io.run();
            return;
          } catch (...) {
          }
        }
      });
      NameThread(threads.back(), "mlship-decode");
    }
  }
  asio::io_context io;
  asio::executor_work_guard<asio::io_context::executor_type> work;
  std::vector<std::thread> threads;
};

}  // namespace

asio::io_context& DecodePool() {
  // Never destroyed: its threads live as long as the process, so no server's
  // stop (nor exit) has to join them.
  static Pool* pool = new Pool;
  return pool->io;
}

}  // namespace mlship::serving::internal
