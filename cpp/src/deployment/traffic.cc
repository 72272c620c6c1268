// TrafficSplit: parsing, picking by point, key hashing.
#include "mlship/deployment/traffic.h"

#include <charconv>
#include <cmath>
#include <random>

#include "mlship/repository/names.h"

namespace mlship {

StatusOr<TrafficSplit> TrafficSplit::Parse(std::string_view text) {
  TrafficSplit split;
  auto bad = [&](const std::string& why) {
    return Status::InvalidArgument("traffic_split '" + std::string(text.substr(0, 120)) + "': " + why +
                                   "; expected VERSION:WEIGHT,... such as 3:90,4:10");
  };
  double total = 0;
  std::string_view rest = text;
  while (!rest.empty()) {
    const std::size_t comma = rest.find(',');
    const std::string_view item = rest.substr(0, comma);
    const std::size_t colon = item.rfind(':');
    if (colon == std::string_view::npos) return bad("'" + std::string(item) + "' has no ':'");
    const std::string version(item.substr(0, colon));
    if (Status named = repository::ValidateName("version", version); !named.ok()) return bad(named.message());
    const std::string_view number = item.substr(colon + 1);
    double weight = 0;
    const auto [end, ec] = std::from_chars(number.data(), number.data() + number.size(), weight);
    if (ec != std::errc() || end != number.data() + number.size() || !std::isfinite(weight) || weight < 0) {
      return bad("weight '" + std::string(number) + "' is not a number >= 0");
    }
    for (const auto& [v, w] : split.weights) {
      if (v == version) return bad("version '" + version + "' appears twice");
    }
    split.weights.emplace_back(version, weight);
    total += weight;
    if (comma == std::string_view::npos) break;
    rest.remove_prefix(comma + 1);
    if (rest.empty()) return bad("a ',' ends it");
  }
  if (!split.weights.empty() && !(total > 0)) return bad("the weights add up to 0");
  return split;
}

std::string TrafficSplit::ToString() const {
  std::string out;
  for (const auto& [version, weight] : weights) {
    char number[32];
    const auto [end, ec] = std::to_chars(number, number + sizeof(number), weight);
    out += (out.empty() ? "" : ",") + version + ":" + std::string(number, end);
  }
  return out;
}

const std::string& TrafficSplit::Pick(double u) const {
  double total = 0;
  for (const auto& [version, weight] : weights) total += weight;
  double below = 0;
  for (const auto& [version, weight] : weights) {
    below += weight / total;
    if (u < below && weight > 0) return version;
  }
  // Rounding at the top end: the last version with a weight.
  for (auto it = weights.rbegin(); it != weights.rend(); ++it) {
    if (it->second > 0) return it->first;
  }
  return weights.back().first;
}

double TrafficSplit::PointOf(std::string_view key) {
  // FNV-1a: stable across processes and machines (std::hash is not), so a
  // key keeps its version when a server restarts.
  uint64_t h = 14695981039346656037ull;
  for (unsigned char c : key) {
    h ^= c;
    h *= 1099511628211ull;
  }
  // Mix the low bits up (FNV's high bits are weak for short keys).
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdull;
  h ^= h >> 33;
  return static_cast<double>(h >> 11) * 0x1.0p-53;
}

double TrafficSplit::RandomPoint() {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  return static_cast<double>(rng() >> 11) * 0x1.0p-53;
}

}  // namespace mlship
