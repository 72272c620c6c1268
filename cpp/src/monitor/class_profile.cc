// ClassProfile: predicted-class counts and their PSI.
#include "mlship/monitor/class_profile.h"

#include <string>

#include "mlship/monitor/drift_statistics.h"

namespace mlship::monitor {

StatusOr<ClassProfile> ClassProfile::FromPredictions(const int64_t* classes, int64_t n, int64_t num_classes) {
  if (num_classes < 1) return Status::InvalidArgument("num_classes must be >= 1; was " + std::to_string(num_classes));
  if (n < 0) return Status::InvalidArgument("prediction count must be >= 0; was " + std::to_string(n));
  if (n > 0 && classes == nullptr) return Status::InvalidArgument("predictions are null");
  ClassProfile profile;
  profile.counts.assign(static_cast<size_t>(num_classes), 0);
  for (int64_t i = 0; i < n; ++i) {
    int64_t c = classes[i];
    if (c < 0 || c >= num_classes) {
      return Status::InvalidArgument("prediction " + std::to_string(i) + " is class " + std::to_string(c) +
                                     "; expected a class in [0, " + std::to_string(num_classes) + ")");
    }
    ++profile.counts[static_cast<size_t>(c)];
  }
  profile.total = n;
  profile.proportions.assign(static_cast<size_t>(num_classes), 0.0);
  if (n > 0) {
    for (size_t c = 0; c < profile.counts.size(); ++c) {
      profile.proportions[c] = static_cast<double>(profile.counts[c]) / static_cast<double>(n);
    }
  }
  return profile;
}

StatusOr<ClassProfile> ClassProfile::FromCounts(std::vector<int64_t> counts) {
  if (counts.empty()) return Status::InvalidArgument("a class profile needs at least one class; got no counts");
  ClassProfile profile;
  for (std::size_t c = 0; c < counts.size(); ++c) {
    if (counts[c] < 0) {
      return Status::InvalidArgument("class " + std::to_string(c) + " has a negative count: " +
                                     std::to_string(counts[c]));
    }
    profile.total += counts[c];
  }
  profile.proportions.assign(counts.size(), 0.0);
  if (profile.total > 0) {
    for (std::size_t c = 0; c < counts.size(); ++c) {
      profile.proportions[c] = static_cast<double>(counts[c]) / static_cast<double>(profile.total);
    }
  }
  profile.counts = std::move(counts);
  return profile;
}

StatusOr<double> ClassDistributionPsi(const ClassProfile& reference, const ClassProfile& live, double epsilon) {
  if (reference.proportions.size() != live.proportions.size()) {
    return Status::InvalidArgument("class profiles differ in class count: reference has " +
                                   std::to_string(reference.proportions.size()) + ", live has " +
                                   std::to_string(live.proportions.size()));
  }
  if (reference.total == 0 || live.total == 0) {
    return Status::InvalidArgument("class PSI needs predictions on both sides; reference has " +
                                   std::to_string(reference.total) + ", live has " + std::to_string(live.total));
  }
  return Psi(reference.proportions, live.proportions, epsilon);
}

}  // namespace mlship::monitor
