// Outcomes: ground truth that arrives after the prediction (a click, a
// chargeback), joined to the prediction by request id, per version: live
// accuracy for a classifier, MSE and MAE for a regressor, over a window.
//
// Memory is bounded: at most `max_pending` predictions wait for their
// outcome, each for at most `ttl` (then it expires, counted); each version
// keeps the last `window` joined rows.
//
// Thread-safety: every method is safe for concurrent use (one mutex; the
// request path takes it once per prediction, only on models that track
// outcomes).
#pragma once

#include <ATen/core/Tensor.h>

#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "mlship/clock.h"
#include "mlship/status.h"

namespace mlship {

struct OutcomeOptions {
  // Predictions waiting for their outcome, at most; beyond it the oldest
  // expires. Default 100000 (about 10 MB). Range >= 1.
  int64_t max_pending = 100'000;
  // How long a prediction waits for its outcome. Default 1 h. Range > 0.
  std::chrono::seconds ttl{3600};
  // Joined rows each version's live figures are computed over, the most
  // recent. Default 2000. Range >= 1.
  int64_t window = 2000;

  Status Validate() const;
};

// The live figures of one version over its window.
struct OnlineScore {
  // Rows joined in the window.
  int64_t rows = 0;
  // Classifier (the prediction is the argmax of a [rows, classes] output):
  // rows whose class matched the label, the accuracy and its 95% Wilson
  // interval.
  bool classifier = false;
  int64_t correct = 0;
  double accuracy = 0.0;
  double accuracy_low = 0.0;
  double accuracy_high = 0.0;
  // Regressor (the prediction is the first value of each row): errors.
  double mse = 0.0;
  double mae = 0.0;
};

// How two versions' accuracies compare on the outcomes each received.
struct AccuracyComparison {
  OnlineScore candidate;
  OnlineScore stable;
  // One-sided two-proportion z-test that the candidate is less accurate:
  // z < 0 when it scored lower; p_value = P(Z <= z) under equal accuracies.
  double z = 0.0;
  double p_value = 1.0;
};

// What a call to Record did.
struct OutcomeCounts {
  int64_t matched = 0;
  // Ids never predicted, already joined, or expired.
  int64_t unknown = 0;
};

class OutcomeStore {
 public:
  // `clock` is not owned.
  static StatusOr<std::unique_ptr<OutcomeStore>> Create(OutcomeOptions options, Clock* clock);

  // Remembers what `version` predicted for request `id` (its first output:
  // classes for a [rows, classes >= 2] float output, else the first value of
  // each row). An empty id, or one already waiting, is ignored.
  void Predicted(const std::string& id, const std::string& version, const at::Tensor& first_output,
                 std::optional<bool> classifier = std::nullopt);
  // Joins labels to predictions: labels[i] has one value per row predicted
  // for ids[i]. A row count that differs counts the id as unknown.
  OutcomeCounts Record(const std::vector<std::string>& ids, const std::vector<std::vector<double>>& labels);

  OnlineScore Score(const std::string& version) const;
  // Versions with joined outcomes.
  std::vector<std::string> Versions() const;
  AccuracyComparison Compare(const std::string& candidate, const std::string& stable) const;
  // Ids reported that matched nothing, since the start; predictions expired.
  int64_t unknown() const;
  int64_t expired() const;
  int64_t pending() const;

 private:
  OutcomeStore(OutcomeOptions options, Clock* clock) : options_(options), clock_(clock) {}
  struct Prediction {
    std::string version;
    bool classifier = false;
    std::vector<double> values;
    Clock::TimePoint at;
  };
  struct Joined {
    bool classifier = false;
    bool correct = false;
    double error = 0.0;
  };
  // Drops predictions past their ttl or beyond max_pending. REQUIRES mu_.
  void ExpireLocked(Clock::TimePoint now);
  OnlineScore ScoreLocked(const std::string& version) const;

  const OutcomeOptions options_;
  Clock* const clock_;
  mutable std::mutex mu_;
  // Waiting predictions by id, and their ids oldest first. GUARDED_BY(mu_)
  std::unordered_map<std::string, Prediction> pending_;
  std::deque<std::pair<std::string, Clock::TimePoint>> order_;
  // The last `window` joined rows of each version. GUARDED_BY(mu_)
  std::map<std::string, std::deque<Joined>> joined_;
  int64_t unknown_ = 0;  // GUARDED_BY(mu_)
  int64_t expired_ = 0;  // GUARDED_BY(mu_)
};

}  // namespace mlship
