// The threads that decode big request bodies, off the I/O threads (internal).
#pragma once

#include <cstddef>

#include <boost/asio/io_context.hpp>

namespace mlship::serving::internal {

// Bodies of at least this many bytes are decoded on the decode pool; smaller
// ones (almost all) on the I/O thread, where a hop would cost more than the
// decode.
constexpr std::size_t kOffloadDecodeBytes = std::size_t{256} << 10;

// Two threads ("mlship-decode") shared by every server of the process,
// started on first use and never stopped, so that decoding a 60 MiB JSON body
// never holds an I/O thread: liveness probes and small requests keep being
// answered. Whoever posts here holds what the job touches (the server state,
// the connection, work on the server's io_context) until the job has run.
boost::asio::io_context& DecodePool();

}  // namespace mlship::serving::internal
