// Traffic policies of one model, beyond "everything to the default":
// a weighted split between versions (sticky by routing key), and a shadow
// version that sees copies of live requests without answering them.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "mlship/status.h"

namespace mlship {

// Shares of a model's traffic by version, e.g. {"3": 90, "4": 10}.
//
// A request with a routing key always reaches the same version for the same
// weights: the key hashes to a point in [0, 1) and the versions own
// consecutive stretches of it, in the order given. Growing the last
// version's share (a rollout moving 1 -> 5 -> 25%) only moves keys onto it,
// never off it. A request without a key gets a random point.
struct TrafficSplit {
  // Version and weight (>= 0; at least one positive), in order.
  std::vector<std::pair<std::string, double>> weights;

  bool empty() const { return weights.empty(); }
  // Parses "3:90,4:10" (empty text: no split). InvalidArgument naming the
  // text and the form.
  static StatusOr<TrafficSplit> Parse(std::string_view text);
  // The form Parse reads.
  std::string ToString() const;
  // The version that a point `u` in [0, 1) falls in.
  const std::string& Pick(double u) const;
  // The point of a routing key (a stable 64-bit hash, scaled).
  static double PointOf(std::string_view key);
  // A random point, from a per-thread generator.
  static double RandomPoint();
};

}  // namespace mlship
