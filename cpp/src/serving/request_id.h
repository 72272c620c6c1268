// Request ids: the ones a server makes up, and any id made safe to send back
// in a header (HTTP) or metadata (gRPC).
#pragma once

#include <string>
#include <string_view>

namespace mlship::serving::internal {

// 16 random hex digits, from a per-thread generator: unique enough to join
// outcomes, never a secret.
std::string NewRequestId();

// `id` as it is when it is visible ASCII (what every id a server makes up
// is), else with the other bytes as %XX, so a client's id cannot inject
// header lines (nor break gRPC's ASCII metadata).
std::string HeaderSafeId(std::string_view id);

}  // namespace mlship::serving::internal
